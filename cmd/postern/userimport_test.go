package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store/sqlite"
)

// Hashes made by Dovecot's `doveadm pw -s SCHEME -p PASSWORD`.
const importPasswdFile = `# Dovecot users, exported from mail1
sha512:{SHA512-CRYPT}$6$c2aI5q/LkFr7m45V$rsPjZTGBccnS/Rx/UsBdMW.3YAgGQkDzHAwJ.nzdbTeVHFH2o6zANZEaUFwds6IMwwQ9Ej3ka4L.Mnd5K/yv/1:1000:1000::/home/sha512::
blf:{BLF-CRYPT}$2y$05$w6q/ZgCYlHlchBpgkSzGyuQ/5LW7K50wTZJDbJhiA0dBkYY3/vjC6:1001:1001::/home/blf::

ssha:{SSHA512}iU7vMVppkNgPVqEI6U5eh1PXSB8Zu+FIBw4GBTXp5ohpio1QEe1VP7XUBqGwzFoDhDj6XzdApOw1XbM3SFDK/RE/444=
Existing:{SHA256-CRYPT}$5$spismk9Kkr4ZMAtK$pf7D8oAj3W4G61SwL8ACsBm0aLUN605w.pRghvxdpgA::::::
md5:$1$FRC5Zj6N$evGD1kmEsZNlA0.JyRlfA/
`

// storedHash returns the password record of account name.
func (c *cli) storedHash(name string) string {
	c.t.Helper()
	st, err := sqlite.Open(c.t.Context(), c.data, sqlite.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.Account(c.t.Context(), name)
	if err != nil {
		c.t.Fatal(err)
	}
	return acct.Secrets[auth.SecretPassword]
}

func TestUserImportPasswd(t *testing.T) {
	c := newCLI(t)
	c.ok("old password\n", "user", "add", "existing", "--password-stdin")
	dir := t.TempDir()
	file := filepath.Join(dir, "users")
	if err := os.WriteFile(file, []byte(importPasswdFile), 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.ok("", "user", "import-passwd", file)
	if !strings.Contains(r.stdout, "4 accounts created, 1 updated, 0 bad lines skipped, 2 blank or comment lines") {
		t.Fatalf("import counts: %v", r)
	}
	for user, pw := range map[string]string{
		"sha512": "sha512 pass", "blf": "blf pass", "ssha": "ssha pass",
		"existing": "sha256 pass", "md5": "md5 pass",
	} {
		if err := c.checkPassword(user, pw); err != nil {
			t.Errorf("%s does not log in with the imported hash: %v", user, err)
		}
	}
	if err := c.checkPassword("existing", "old password"); err == nil {
		t.Error("the replaced password still logs in")
	}
	// checkPassword's successful logins upgraded the legacy hashes.
	if h := c.storedHash("blf"); !strings.HasPrefix(h, "$argon2id$") {
		t.Errorf("blf's hash after login is %.12q…, want argon2id", h)
	}
	if r := c.ok("", "user", "list"); row(t, r.stdout, "sha512") == nil {
		t.Fatalf("imported account not listed: %v", r)
	}

	// Standard input, updating only.
	r = c.ok("blf:{PLAIN}new blf\n", "user", "import-passwd", "-")
	if !strings.Contains(r.stdout, "0 accounts created, 1 updated") {
		t.Fatalf("stdin import: %v", r)
	}
	if err := c.checkPassword("blf", "new blf"); err != nil {
		t.Fatalf("{PLAIN} import: %v", err)
	}

	// Every bad line is named; nothing is imported.
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("newuser:{PLAIN}x\n:nouser\ndes:abJnggxhB/yWI\nweird:{FOO}bar\nnewuser:{PLAIN}y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = c.run("", "user", "import-passwd", bad)
	if r.code != 1 {
		t.Fatalf("bad file: want exit 1: %v", r)
	}
	for _, want := range []string{"4 bad lines", bad + ":2: ", bad + ":3: ", "DES crypt", bad + ":4: ", "{FOO}", bad + ":5: ", "already appears on line 1"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("bad file: stderr lacks %q: %v", want, r)
		}
	}
	if r := c.ok("", "user", "list"); row(t, r.stdout, "newuser") != nil {
		t.Fatalf("a file with bad lines imported some: %v", r)
	}

	// --skip-bad imports the good lines and still names the bad ones.
	r = c.ok("", "user", "import-passwd", "--skip-bad", bad)
	if !strings.Contains(r.stdout, "1 accounts created, 0 updated, 4 bad lines skipped") || !strings.Contains(r.stderr, bad+":3: ") {
		t.Fatalf("--skip-bad: %v", r)
	}
	if err := c.checkPassword("newuser", "x"); err != nil {
		t.Fatalf("--skip-bad did not import the good line: %v", err)
	}
	c.fails(1, "no such file", "user", "import-passwd", filepath.Join(dir, "missing"))
	c.fails(2, "want one passwd FILE", "user", "import-passwd")
}
