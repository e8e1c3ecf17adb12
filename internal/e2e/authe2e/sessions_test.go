package authe2e

import (
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

// imapLogout ends an IMAP session and waits until the server has closed
// the connection, so that the session's slot is given back (the server
// releases it before it closes).
func (c *lineConn) imapLogout() {
	c.t.Helper()
	if _, tagged := c.imap("LOGOUT"); !strings.HasPrefix(tagged, "OK") {
		c.t.Fatalf("LOGOUT: %s", tagged)
	}
	for {
		if _, err := c.readLineErr(); err != nil {
			return
		}
	}
}

// TestSessionCapAcrossProtocols sets auth.max_sessions_per_account to 1
// and checks that IMAP and POP3 share it: a logged-in IMAP session makes
// POP3 logins fail with [IN-USE], a logged-in POP3 session makes IMAP
// logins fail with NO [LIMIT], and once the holder logs out, or its
// connection drops, the other protocol gets in.
func TestSessionCapAcrossProtocols(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(dir string, c *config.Config) { c.Auth.MaxSessionsPerAccount = 1 })
	e.addAccount("carol", "carol-pass", false)

	// IMAP holds the slot.
	imap, _ := mustDial(t, e.addrs["imap"], "", nil)
	if _, tagged := imap.imap("LOGIN carol carol-pass"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("IMAP LOGIN: %s", tagged)
	}
	pop, _ := mustDial(t, e.addrs["pop3"], "", nil)
	pop.pop3("USER carol")
	if got := pop.pop3("PASS carol-pass"); !strings.HasPrefix(got, "-ERR [IN-USE]") {
		t.Fatalf("POP3 PASS while IMAP holds the slot: %s", got)
	}
	if got := pop.pop3Auth("PLAIN", plainIR("carol", "carol-pass"), noSteps); !strings.HasPrefix(got, "-ERR [IN-USE]") {
		t.Fatalf("POP3 AUTH PLAIN while IMAP holds the slot: %s", got)
	}
	imap.imapLogout()

	// The same POP3 connection gets in now, and holds the slot.
	pop.pop3("USER carol")
	if got := pop.pop3("PASS carol-pass"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("POP3 PASS after the IMAP LOGOUT: %s", got)
	}
	imap, _ = mustDial(t, e.addrs["imap"], "", nil)
	if _, tagged := imap.imap("LOGIN carol carol-pass"); !strings.HasPrefix(tagged, "NO [LIMIT]") {
		t.Fatalf("IMAP LOGIN while POP3 holds the slot: %s", tagged)
	}
	pop.pop3Quit()
	if _, tagged := imap.imap("LOGIN carol carol-pass"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("IMAP LOGIN after the POP3 QUIT: %s", tagged)
	}
	imap.imapLogout()

	// A POP3 connection that drops without QUIT gives the slot back too.
	pop, _ = mustDial(t, e.addrs["pop3"], "", nil)
	pop.pop3("USER carol")
	if got := pop.pop3("PASS carol-pass"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("POP3 PASS: %s", got)
	}
	imap, _ = mustDial(t, e.addrs["imap"], "", nil)
	if _, tagged := imap.imap("LOGIN carol carol-pass"); !strings.HasPrefix(tagged, "NO [LIMIT]") {
		t.Fatalf("IMAP LOGIN while POP3 holds the slot: %s", tagged)
	}
	pop.conn.Close()
	for i := 0; ; i++ {
		_, tagged := imap.imap("LOGIN carol carol-pass")
		if strings.HasPrefix(tagged, "OK") {
			break
		}
		if !strings.HasPrefix(tagged, "NO [LIMIT]") || i == 100 {
			t.Fatalf("IMAP LOGIN after the POP3 connection dropped (try %d): %s", i+1, tagged)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// And an IMAP connection that drops lets POP3 in.
	imap.conn.Close()
	for i := 0; ; i++ {
		pop, _ = mustDial(t, e.addrs["pop3"], "", nil)
		pop.pop3("USER carol")
		got := pop.pop3("PASS carol-pass")
		if strings.HasPrefix(got, "+OK") {
			break
		}
		if !strings.HasPrefix(got, "-ERR [IN-USE]") || i == 100 {
			t.Fatalf("POP3 PASS after the IMAP connection dropped (try %d): %s", i+1, got)
		}
		pop.conn.Close()
		time.Sleep(100 * time.Millisecond)
	}
	pop.pop3Quit()
}
