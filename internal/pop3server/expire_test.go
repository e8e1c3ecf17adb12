package pop3server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// expunged drains a hub subscription and returns the expunged UIDs, sorted.
func expunged(sub *store.Subscription) []store.UID {
	evs, _ := sub.Drain()
	var uids []store.UID
	for _, ev := range evs {
		if ev.Kind == store.EventExpunge {
			uids = append(uids, ev.UID)
		}
	}
	slices.Sort(uids)
	return uids
}

func refUIDs(refs []store.MessageRef) []store.UID {
	out := make([]store.UID, len(refs))
	for i, r := range refs {
		out[i] = r.UID
	}
	return out
}

func (e *testEnv) retrievedBefore(at time.Time) []store.UID {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, e.acct.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	uids, err := e.st.RetrievedBefore(ctx, e.acct.ID, mb.ID, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return uids
}

func capaHas(c *client, want string) bool {
	c.expect("CAPA", "+OK")
	return slices.Contains(c.blockLines(), want)
}

// TestExpireNever: the default keeps retrieved messages and records no
// retrieval time; an invalid value falls back to NEVER.
func TestExpireNever(t *testing.T) {
	t.Parallel()
	for _, expire := range []string{"", "NEVER", "soon"} {
		e := newEnv(t, func(c *envConfig) { c.opts.Expire = expire })
		e.appendTo(e.acct, "INBOX", testMessage(1, 1), testMessage(2, 1))
		c := e.dial()
		if !capaHas(c, "EXPIRE NEVER") {
			t.Fatalf("Expire %q: CAPA lacks EXPIRE NEVER", expire)
		}
		c.login()
		c.expect("RETR 1", "+OK")
		c.block()
		c.expect("QUIT", "+OK Bye, 2 messages left")
		c.closed()
		if n := len(e.inboxRefs(e.acct)); n != 2 {
			t.Fatalf("Expire %q: %d messages left, want 2", expire, n)
		}
		if got := e.retrievedBefore(time.Now().Add(time.Hour)); len(got) != 0 {
			t.Fatalf("Expire %q: retrieval recorded for %v", expire, got)
		}
	}
}

// TestExpireZero: with EXPIRE 0 what a session RETRieved is expunged at
// QUIT without DELE, RSET does not save it; TOP is not retrieval; a
// session that ends without QUIT deletes nothing.
func TestExpireZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.opts.Expire = "0" })
	e.appendTo(e.acct, "INBOX", testMessage(1, 1), testMessage(2, 1), testMessage(3, 1), testMessage(4, 1), testMessage(5, 1))
	uids := refUIDs(e.inboxRefs(e.acct))
	sub := e.st.Hub().Subscribe(e.acct.ID)
	defer sub.Close()

	// No QUIT: nothing goes.
	c := e.dial()
	c.login()
	c.expect("RETR 2", "+OK")
	c.block()
	c.conn.Close()
	relogged := false
	for range 100 { // until the dropped session has released the lock
		d := e.dial()
		d.expect("USER "+testUser, "+OK")
		l := d.cmd("PASS " + testPass)
		if strings.HasPrefix(l, "-ERR [IN-USE]") {
			d.conn.Close()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if !strings.HasPrefix(l, "+OK Logged in, 5 messages") {
			t.Fatalf("login after a dropped session: %q", l)
		}
		d.expect("QUIT", "+OK")
		d.closed()
		relogged = true
		break
	}
	if !relogged {
		t.Fatal("the dropped session kept the maildrop locked")
	}
	if got := expunged(sub); len(got) != 0 {
		t.Fatalf("expunged without QUIT: %v", got)
	}

	c = e.dial()
	if !capaHas(c, "EXPIRE 0") {
		t.Fatal("CAPA lacks EXPIRE 0")
	}
	c.login()
	c.expect("RETR 1", "+OK")
	c.block()
	c.expect("TOP 2 0", "+OK")
	c.block()
	c.expect("RETR 3", "+OK")
	c.block()
	c.expect("DELE 4", "+OK")
	c.expect("RSET", "+OK")
	c.expect("DELE 4", "+OK")
	c.expect("NOOP", "+OK")
	if got := expunged(sub); len(got) != 0 {
		t.Fatalf("expunged before QUIT: %v", got)
	}
	c.expect("QUIT", "+OK Bye, 2 messages left")
	want := []store.UID{uids[0], uids[2], uids[3]}
	if got := expunged(sub); !slices.Equal(got, want) {
		t.Fatalf("expunged at QUIT: %v, want %v", got, want)
	}
	if got := refUIDs(e.inboxRefs(e.acct)); !slices.Equal(got, []store.UID{uids[1], uids[4]}) {
		t.Fatalf("left: %v", got)
	}
}

// TestExpireDays: with EXPIRE 30 a QUIT records when messages were first
// retrieved and keeps them; a login expunges (through the store, so IMAP
// sessions see it) those first retrieved more than 30 days ago, and only
// those.
func TestExpireDays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.opts.Expire = "30" })
	e.appendTo(e.acct, "INBOX", testMessage(1, 1), testMessage(2, 1), testMessage(3, 1), testMessage(4, 1))
	uids := refUIDs(e.inboxRefs(e.acct))
	sub := e.st.Hub().Subscribe(e.acct.ID)
	defer sub.Close()

	start := time.Now()
	c := e.dial()
	if !capaHas(c, "EXPIRE 30") {
		t.Fatal("CAPA lacks EXPIRE 30")
	}
	c.login()
	c.expect("RETR 1", "+OK")
	c.block()
	c.expect("RETR 2", "+OK")
	c.block()
	c.expect("TOP 3 0", "+OK")
	c.block()
	c.expect("QUIT", "+OK Bye, 4 messages left")
	c.closed()
	if got := expunged(sub); len(got) != 0 {
		t.Fatalf("expunged at QUIT: %v", got)
	}
	if got := e.retrievedBefore(start); len(got) != 0 {
		t.Fatalf("retrieval recorded before the session: %v", got)
	}
	if got := e.retrievedBefore(time.Now().Add(time.Second)); !slices.Equal(got, uids[:2]) {
		t.Fatalf("retrieval recorded for %v, want %v", got, uids[:2])
	}

	// Message 3 was retrieved 31 days ago, message 4 29 days ago (as if
	// by earlier sessions).
	ctx := context.Background()
	mb, _ := e.st.Mailbox(ctx, e.acct.ID, "INBOX")
	day := 24 * time.Hour
	if err := e.st.MarkRetrieved(ctx, e.acct.ID, mb.ID, uids[2:3], time.Now().Add(-31*day)); err != nil {
		t.Fatal(err)
	}
	if err := e.st.MarkRetrieved(ctx, e.acct.ID, mb.ID, uids[3:4], time.Now().Add(-29*day)); err != nil {
		t.Fatal(err)
	}
	if got := expunged(sub); len(got) != 0 {
		t.Fatalf("expunged before the next login: %v", got)
	}
	c = e.dial()
	c.login()
	c.expect("STAT", "+OK 3 ")
	if got := expunged(sub); !slices.Equal(got, uids[2:3]) {
		t.Fatalf("expunged at login: %v, want %v", got, uids[2:3])
	}
	c.expect("UIDL", "+OK")
	if l := c.blockLines(); len(l) != 3 || !strings.HasSuffix(l[2], fmt.Sprintf("%08x", uint32(uids[3]))) {
		t.Fatalf("UIDL after expiry: %q", l)
	}
	c.expect("QUIT", "+OK Bye, 3 messages left")
	if got := refUIDs(e.inboxRefs(e.acct)); !slices.Equal(got, []store.UID{uids[0], uids[1], uids[3]}) {
		t.Fatalf("left: %v", got)
	}
}
