package authe2e

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

// secretSet collects everything that must never reach a log: passwords,
// client responses (raw and base64), tokens, digests, stored records.
type secretSet map[string]bool

func (s secretSet) add(v ...string) {
	for _, x := range v {
		if len(x) >= 6 {
			s[x] = true
		}
	}
}

// addResponse records a SASL client response in every form it could be
// logged in.
func (s secretSet) addResponse(b []byte) {
	s.add(string(b), base64.StdEncoding.EncodeToString(b))
}

// recording wraps a step so that its responses are recorded.
func (s secretSet) recording(step saslStep) saslStep {
	return func(ch []byte) ([]byte, error) {
		resp, err := step(ch)
		s.addResponse(resp)
		return resp, err
	}
}

// TestLogsCarryNoSecrets logs in over IMAP and POP3 with every kind of
// credential, right and wrong, capturing the server's log: each login line
// names the session, remote address, user and mechanism (and, for a master
// user logged in as another account, the master as authn), and nothing in
// the log is a password, client response, token, digest or stored hash.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	issuer := newIssuer(t, "log-key")
	e := startServer(t, func(dir string, c *config.Config) {
		c.Auth.JWKSFile = issuer.writeJWKS(t, dir)
		c.Auth.OAuthIssuer = testIssuer
		c.Auth.OAuthAudience = testAudience
		c.Auth.MasterUsers = []string{"admin"}
	})
	e.addAccount("alice", "Alice-Secret-1", true)
	e.addAccount("admin", "Admin-Secret-3", false)
	secrets := secretSet{}
	secrets.add("Alice-Secret-1", "Wrong-Secret-2", "Admin-Secret-3")

	// IMAP LOGIN, right and wrong.
	c, _ := mustDial(t, e.addrs["imap"], "", nil)
	if _, tagged := c.imap("LOGIN alice Wrong-Secret-2"); !strings.HasPrefix(tagged, "NO") {
		t.Fatalf("wrong LOGIN: %s", tagged)
	}
	if _, tagged := c.imap("LOGIN alice Alice-Secret-1"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("LOGIN: %s", tagged)
	}

	// AUTHENTICATE PLAIN with SASL-IR over IMAPS, right and wrong.
	for _, pw := range []string{"Wrong-Secret-2", "Alice-Secret-1"} {
		c, _ = mustDial(t, e.addrs["imaps"], "", insecureTLS())
		ir := plainIR("alice", pw)
		secrets.addResponse(ir)
		c.authenticate("PLAIN", ir, noSteps)
	}

	// The master user admin logs in as alice with AUTHENTICATE PLAIN.
	masterIR := []byte("alice\x00admin\x00Admin-Secret-3")
	secrets.addResponse(masterIR)
	c, _ = mustDial(t, e.addrs["imaps"], "", insecureTLS())
	if got := c.authenticate("PLAIN", masterIR, noSteps); !strings.HasPrefix(got, "OK") {
		t.Fatalf("master PLAIN: %s", got)
	}

	// SCRAM-SHA-256.
	c, _ = mustDial(t, e.addrs["imap"], "", nil)
	ir, step, _ := scramSteps(t, "SCRAM-SHA-256", "alice", "Alice-Secret-1", nil)
	if got := c.authenticate("SCRAM-SHA-256", ir, secrets.recording(step)); !strings.HasPrefix(got, "OK") {
		t.Fatalf("SCRAM: %s", got)
	}

	// CRAM-MD5.
	c, _ = mustDial(t, e.addrs["imap"], "", nil)
	if got := c.authenticate("CRAM-MD5", nil, secrets.recording(cramStep("alice", "Alice-Secret-1"))); !strings.HasPrefix(got, "OK") {
		t.Fatalf("CRAM-MD5: %s", got)
	}

	// OAUTHBEARER, a good token and a forged one.
	good := issuer.token(t, "alice", time.Now().Add(time.Hour))
	forged := newIssuer(t, "log-key").token(t, "alice", time.Now().Add(time.Hour))
	for _, tok := range []string{good, forged} {
		secrets.add(tok, tok[strings.LastIndexByte(tok, '.')+1:])
		c, _ = mustDial(t, e.addrs["imaps"], "", insecureTLS())
		ir := oauthBearerIR("alice", tok)
		secrets.addResponse(ir)
		c.authenticate("OAUTHBEARER", ir, acknowledgeError(t))
	}

	// POP3 USER/PASS (wrong, then right) and APOP.
	p, _ := mustDial(t, e.addrs["pop3"], "", nil)
	p.pop3("USER alice")
	if got := p.pop3("PASS Wrong-Secret-2"); !strings.HasPrefix(got, "-ERR") {
		t.Fatalf("wrong PASS: %s", got)
	}
	p.pop3("USER alice")
	if got := p.pop3("PASS Alice-Secret-1"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("PASS: %s", got)
	}
	p.pop3Quit()
	p, greeting := mustDial(t, e.addrs["pop3"], "", nil)
	sum := md5.Sum([]byte(apopTimestamp.FindString(greeting) + "Alice-Secret-1"))
	digest := hex.EncodeToString(sum[:])
	secrets.add(digest)
	if got := p.pop3("APOP alice " + digest); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("APOP: %s", got)
	}
	p.pop3Quit()

	// The master login over POP3 AUTH PLAIN.
	p, _ = mustDial(t, e.addrs["pop3"], "", nil)
	if got := p.pop3Auth("PLAIN", masterIR, noSteps); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("master AUTH PLAIN: %s", got)
	}
	p.pop3Quit()

	// The stored records (argon2id hash, SCRAM keys, the encrypted
	// plaintext equivalent), whole and in their parts.
	for _, v := range mergeRecords(e.secrets("alice"), e.secrets("admin")) {
		secrets.add(v)
		for _, part := range regexp.MustCompile(`[$,:]`).Split(v, -1) {
			if len(part) >= 16 {
				secrets.add(part)
			}
		}
	}

	if len(secrets) < 20 {
		t.Fatalf("only %d secrets collected", len(secrets))
	}
	logs := e.logs.String()
	for s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log carries a secret %.24q…", s)
		}
	}
	if strings.Contains(logs, "$argon2id$") {
		t.Error("the log carries an argon2id hash")
	}

	// Each login is logged with session, remote address, user, mechanism.
	for _, want := range []struct{ msg, mech string }{
		{`msg=login proto=imap`, "LOGIN"},
		{`msg=login proto=imap`, "PLAIN"},
		{`msg=login proto=imap`, "SCRAM-SHA-256"},
		{`msg=login proto=imap`, "CRAM-MD5"},
		{`msg=login proto=imap`, "OAUTHBEARER"},
		{`msg="pop3 login" proto=pop3`, "USER"},
		{`msg="pop3 login" proto=pop3`, "APOP"},
		{`msg="login failed" proto=imap`, "LOGIN"},
		{`msg="login failed" proto=imap`, "PLAIN"},
		{`msg="login failed" proto=imap`, "OAUTHBEARER"},
		{`msg="pop3 login failed" proto=pop3`, "USER"},
	} {
		re := regexp.MustCompile(`(?m)` + regexp.QuoteMeta(want.msg) + ` session=\d+ remote=127\.0\.0\.1:\d+ .*mechanism=` +
			regexp.QuoteMeta(want.mech) + `( .*)?$`)
		line := re.FindString(logs)
		if line == "" {
			t.Errorf("no %s line for %s with session and remote", want.msg, want.mech)
			continue
		}
		if !strings.Contains(line, "user=alice") && !strings.Contains(want.msg, "failed") {
			t.Errorf("login line without the user: %s", line)
		}
	}
	// A master user's login names the account in use and, as authn, the
	// master whose password was checked; an ordinary login has no authn.
	for _, msg := range []string{`msg=login proto=imap`, `msg="pop3 login" proto=pop3`} {
		re := regexp.MustCompile(`(?m)^.*` + regexp.QuoteMeta(msg) + ` session=\d+ remote=127\.0\.0\.1:\d+ mechanism=PLAIN user=alice authn=admin$`)
		if !re.MatchString(logs) {
			t.Errorf("no %s line for the master login with user=alice authn=admin", msg)
		}
	}
	if n := strings.Count(logs, "authn="); n != 2 {
		t.Errorf("%d log lines carry authn, want the 2 master logins:\n%s", n, logs)
	}
	// Failures of name-bearing mechanisms name the user too; package auth
	// logs the name every failure counted against.
	if !regexp.MustCompile(`msg="login failed" proto=imap session=\d+ remote=\S+ mechanism=LOGIN user=alice`).MatchString(logs) {
		t.Error("failed LOGIN not logged with its user")
	}
	if !regexp.MustCompile(`msg="auth: login failed" component=auth user=alice remote=127\.0\.0\.1`).MatchString(logs) {
		t.Error("auth's failure line lacks user or remote")
	}
}

// mergeRecords lists the values of several accounts' credential records.
func mergeRecords(records ...map[string]string) []string {
	var out []string
	for _, r := range records {
		for _, v := range r {
			out = append(out, v)
		}
	}
	return out
}
