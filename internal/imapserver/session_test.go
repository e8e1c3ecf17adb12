package imapserver

import (
	"strings"
	"testing"
)

func TestGreetingCapabilityNoopLogout(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	u := c.ok("CAPABILITY")
	has(t, u, "IMAP4rev2")
	has(t, u, "AUTH=PLAIN")
	hasNot(t, u, "LOGINDISABLED")
	hasNot(t, u, "STARTTLS")
	c.ok("NOOP")
	u = c.ok("LOGOUT")
	has(t, u, "* BYE")
}

func TestLogin(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	_, st := c.cmd(`LOGIN alice wrong`)
	if !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("bad password: %q", st)
	}
	c.bad("LOGIN alice")
	c.bad("SELECT INBOX") // not authenticated yet
	_, st = c.cmd(`LOGIN alice "` + testPassword + `"`)
	if !strings.HasPrefix(st, "OK [CAPABILITY ") || !strings.Contains(st, "IDLE") {
		t.Fatalf("login: %q", st)
	}
	c.bad(`LOGIN alice "` + testPassword + `"`) // already authenticated
}
