package authe2e

import (
	"context"
	"strings"
	"testing"

	"github.com/postern/postern/internal/auth"
)

// Lines of a Dovecot passwd-file; the hashes were made by Dovecot's
// `doveadm pw -s SCHEME -p PASSWORD`.
var dovecotUsers = []struct{ line, user, password string }{
	{"sha512:{SHA512-CRYPT}$6$c2aI5q/LkFr7m45V$rsPjZTGBccnS/Rx/UsBdMW.3YAgGQkDzHAwJ.nzdbTeVHFH2o6zANZEaUFwds6IMwwQ9Ej3ka4L.Mnd5K/yv/1:1000:1000::/home/sha512::",
		"sha512", "sha512 pass"},
	{"blf:{BLF-CRYPT}$2y$05$w6q/ZgCYlHlchBpgkSzGyuQ/5LW7K50wTZJDbJhiA0dBkYY3/vjC6:1001:1001::/home/blf::",
		"blf", "blf pass"},
	{"ssha:{SSHA512}iU7vMVppkNgPVqEI6U5eh1PXSB8Zu+FIBw4GBTXp5ohpio1QEe1VP7XUBqGwzFoDhDj6XzdApOw1XbM3SFDK/RE/444=",
		"ssha", "ssha pass"},
	{"sha256:{SHA256-CRYPT}$5$spismk9Kkr4ZMAtK$pf7D8oAj3W4G61SwL8ACsBm0aLUN605w.pRghvxdpgA::::::",
		"sha256", "sha256 pass"},
	{"md5:{MD5-CRYPT}$1$FRC5Zj6N$evGD1kmEsZNlA0.JyRlfA/", "md5", "md5 pass"},
}

// imaplibLoginScript logs each USER=PASSWORD argument in with LOGIN.
const imaplibLoginScript = `
import imaplib, sys
host, port = sys.argv[1:3]
for arg in sys.argv[3:]:
    user, pw = arg.split("=", 1)
    m = imaplib.IMAP4(host, int(port), timeout=30)
    try:
        typ, _ = m.login(user, pw)
        print(user, typ)
    except imaplib.IMAP4.error as e:
        print(user, "refused", e)
    m.logout()
`

// TestImportedHashesLogIn imports Dovecot passwd-file lines the way
// `postern user import-passwd` does (auth.ImportPasswdLine, then the
// store), logs each user in over IMAP with Python's imaplib, and checks
// that the legacy hash was replaced by argon2id and SCRAM keys, so SCRAM
// works from then on.
func TestImportedHashesLogIn(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	ctx := context.Background()
	var args []string
	for _, u := range dovecotUsers {
		user, secrets, err := auth.ImportPasswdLine(u.line)
		if err != nil || user != u.user {
			t.Fatalf("ImportPasswdLine(%q) = %q, %v", u.line, user, err)
		}
		acct, err := e.st.CreateAccount(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.SetSecrets(ctx, acct.ID, secrets); err != nil {
			t.Fatal(err)
		}
		if h := e.secrets(user)[auth.SecretPassword]; strings.HasPrefix(h, "$argon2id$") {
			t.Fatalf("%s: imported record is already argon2id", user)
		}
		args = append(args, u.user+"="+u.password)
	}
	args = append(args, "blf=wrong")
	out := python(t, "", imaplibLoginScript, nil, append([]string{"127.0.0.1", port(e.addrs["imap"])}, args...)...)
	t.Logf("imaplib:\n%s", out)
	for _, u := range dovecotUsers {
		if !strings.Contains(out, u.user+" OK") {
			t.Errorf("%s did not log in with its imported hash", u.user)
		}
		s := e.secrets(u.user)
		if !strings.HasPrefix(s[auth.SecretPassword], "$argon2id$") || s[auth.SecretSCRAMSHA256] == "" {
			t.Errorf("%s's records after login: password %.14q…, SCRAM-SHA-256 %v; want argon2id and SCRAM keys",
				u.user, s[auth.SecretPassword], s[auth.SecretSCRAMSHA256] != "")
		}
	}
	if !strings.Contains(out, "blf refused") {
		t.Error("a wrong password logged in")
	}
	if !strings.Contains(e.logs.String(), "upgraded to argon2id") {
		t.Error("no hash upgrade logged")
	}

	// The upgraded records carry SCRAM keys: SCRAM now works.
	c, _ := mustDial(t, e.addrs["imap"], "", nil)
	ir, step, valid := scramSteps(t, "SCRAM-SHA-256", "sha512", "sha512 pass", nil)
	if got := c.authenticate("SCRAM-SHA-256", ir, step); !strings.HasPrefix(got, "OK") || !valid() {
		t.Fatalf("SCRAM-SHA-256 after the upgrade: %s", got)
	}
}
