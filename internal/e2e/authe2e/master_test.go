package authe2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/postern/postern/internal/config"
)

// TestMasterUserOverIMAPAndPOP3 configures auth.master_users and logs in
// over the wire with SASL PLAIN's authorization identity (RFC 4616 §2):
// the master's own password opens the named user's mailbox over IMAP and
// POP3, while an account that is not a master gets the ordinary failure
// for the same request. The login lines name both identities.
func TestMasterUserOverIMAPAndPOP3(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(dir string, c *config.Config) { c.Auth.MasterUsers = []string{"backup"} })
	e.addAccount("bob", "bob-pass", false)
	e.addAccount("backup", "backup-pass", false)
	e.addAccount("mallory", "mallory-pass", false)

	// Bob's INBOX holds one message, the others' are empty.
	c, _ := mustDial(t, e.addrs["imap"], "", nil)
	if _, tagged := c.imap("LOGIN bob bob-pass"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("bob's LOGIN: %s", tagged)
	}
	msg := "From: alice@example.org\r\nSubject: only in bob's mailbox\r\n\r\nhello bob\r\n"
	c.write(fmt.Sprintf("a1 APPEND INBOX {%d+}\r\n%s\r\n", len(msg), msg))
	if _, tagged := c.readUntilTag("a1"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("APPEND: %s", tagged)
	}
	c.imapLogout()

	subject := func(c *lineConn) string {
		c.t.Helper()
		untagged, tagged := c.imap("SELECT INBOX")
		if !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("SELECT: %s", tagged)
		}
		if !containsLine(untagged, "* 1 EXISTS") {
			t.Fatalf("SELECT INBOX does not show bob's one message: %q", untagged)
		}
		untagged, tagged = c.imap("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
		if !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("FETCH: %s", tagged)
		}
		return strings.Join(untagged, "\n")
	}

	t.Run("IMAP AUTHENTICATE PLAIN", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
		if got := c.authenticate("PLAIN", []byte("bob\x00backup\x00backup-pass"), noSteps); !strings.HasPrefix(got, "OK") {
			t.Fatalf("master login as bob: %s", got)
		}
		if s := subject(c); !strings.Contains(s, "only in bob's mailbox") {
			t.Fatalf("the master session does not see bob's message: %s", s)
		}
		c.imapLogout()

		// Without an authorization identity the master is itself.
		c, _ = mustDial(t, e.addrs["imaps"], "", insecureTLS())
		if got := c.authenticate("PLAIN", plainIR("backup", "backup-pass"), noSteps); !strings.HasPrefix(got, "OK") {
			t.Fatalf("master's own login: %s", got)
		}
		if untagged, _ := c.imap("SELECT INBOX"); !containsLine(untagged, "* 0 EXISTS") {
			t.Fatalf("the master's own INBOX: %q", untagged)
		}
		c.imapLogout()

		// A wrong master password, and a non-master naming bob.
		for _, ir := range []string{"bob\x00backup\x00bob-pass", "bob\x00mallory\x00mallory-pass"} {
			c, _ = mustDial(t, e.addrs["imaps"], "", insecureTLS())
			if got := c.authenticate("PLAIN", []byte(ir), noSteps); !strings.HasPrefix(got, "NO [AUTHENTICATIONFAILED]") {
				t.Fatalf("PLAIN %q: %s", ir, got)
			}
			if _, tagged := c.imap("SELECT INBOX"); !strings.HasPrefix(tagged, "BAD") && !strings.HasPrefix(tagged, "NO") {
				t.Fatalf("SELECT after a refused login: %s", tagged)
			}
		}
	})

	t.Run("POP3 AUTH PLAIN", func(t *testing.T) {
		p, _ := mustDial(t, e.addrs["pop3"], "", nil)
		if got := p.pop3Auth("PLAIN", []byte("bob\x00backup\x00backup-pass"), noSteps); !strings.HasPrefix(got, "+OK Logged in, 1 messages") {
			t.Fatalf("master login as bob: %s", got)
		}
		status, lines := p.pop3Multi("TOP 1 0")
		if !strings.HasPrefix(status, "+OK") || !strings.Contains(strings.Join(lines, "\n"), "only in bob's mailbox") {
			t.Fatalf("TOP 1 0 in the master session: %s %q", status, lines)
		}
		p.pop3Quit()

		for _, ir := range []string{"bob\x00backup\x00bob-pass", "bob\x00mallory\x00mallory-pass"} {
			p, _ = mustDial(t, e.addrs["pop3"], "", nil)
			if got := p.pop3Auth("PLAIN", []byte(ir), noSteps); !strings.HasPrefix(got, "-ERR [AUTH]") {
				t.Fatalf("PLAIN %q: %s", ir, got)
			}
			if got := p.pop3("STAT"); !strings.HasPrefix(got, "-ERR") {
				t.Fatalf("STAT after a refused login: %s", got)
			}
		}
	})

	logs := e.logs.String()
	for _, want := range []string{
		`msg=login proto=imap session=\d+ remote=\S+ mechanism=PLAIN user=bob authn=backup\n`,
		`msg="pop3 login" proto=pop3 session=\d+ remote=\S+ mechanism=PLAIN user=bob authn=backup\n`,
	} {
		if !regexp.MustCompile(want).MatchString(logs) {
			t.Errorf("no login line matching %s", want)
		}
	}
	// An ordinary login carries no authn.
	if !regexp.MustCompile(`msg=login proto=imap session=\d+ remote=\S+ mechanism=PLAIN user=backup\n`).MatchString(logs) {
		t.Error("the master's own login is not logged as an ordinary one")
	}
	if strings.Contains(logs, "authn=mallory") {
		t.Error("the refused authorization identity was logged as a login")
	}
}

// containsLine reports whether lines holds want.
func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
