package imapserver

import (
	"strings"
	"testing"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
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

func TestSessionLimitPerAccount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) {
		o.Auth = auth.New(store.CredentialSource{Store: o.Store, UnknownUser: auth.ErrUnknownUser}, auth.Config{MaxSessionsPerAccount: 1})
	})
	a := ts.login()
	b := ts.dial()
	_, st := b.cmd(`LOGIN alice "` + testPassword + `"`)
	if !strings.HasPrefix(st, "NO [LIMIT]") {
		t.Fatalf("second session: %q", st)
	}
	a.ok("LOGOUT")
	// The slot is given back when the first session ends.
	for i := 0; ; i++ {
		_, st = b.cmd(`LOGIN alice "` + testPassword + `"`)
		if strings.HasPrefix(st, "OK") {
			break
		}
		if i > 50 {
			t.Fatalf("slot not released: %q", st)
		}
	}
}

func TestUnauthenticate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.ok("SELECT INBOX")
	c.ok("UNAUTHENTICATE")
	c.bad("SELECT INBOX")
	c.bad("UNAUTHENTICATE")
	c.ok(`LOGIN bob "` + testPassword + `"`)
	c.ok("SELECT INBOX")
}
