package imapserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestNotify(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.login()
	b := ts.login()
	b.ok("CREATE Work")
	u := a.ok("CAPABILITY")
	has(t, u, " NOTIFY")
	u = a.ok("NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))")
	has(t, u, `* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY `)
	has(t, u, `* STATUS Work (MESSAGES 0 `)

	// Unselected mailboxes: STATUS on message events.
	b.appendMsg("Work", "", testMessage(1))
	u = a.ok("NOOP")
	has(t, u, `* STATUS Work (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `)
	b.ok("SELECT Work")
	b.ok(`STORE 1 +FLAGS (\Seen)`)
	u = a.ok("NOOP")
	has(t, u, `* STATUS Work (MESSAGES 1 UIDNEXT 2 UIDVALIDITY `)
	has(t, u, "UNSEEN 0)")
	b.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	u = a.ok("NOOP")
	has(t, u, `* STATUS Work (MESSAGES 0 `)
	b.ok("UNSELECT")

	// MailboxName and SubscriptionChange.
	b.ok("CREATE Lists")
	b.ok("RENAME Lists Lists2")
	b.ok("SUBSCRIBE Lists2")
	u = a.ok("NOOP")
	has(t, u, `* LIST () "/" Lists`)
	has(t, u, `* LIST () "/" Lists2 ("OLDNAME" (Lists))`)
	has(t, u, `* LIST (\Subscribed) "/" Lists2`)
	b.ok("UNSUBSCRIBE Lists2")
	b.ok("DELETE Lists2")
	u = a.ok("NOOP")
	has(t, u, `* LIST () "/" Lists2`)
	has(t, u, `* LIST (\NonExistent) "/" Lists2`)

	// The selected mailbox: EXISTS plus the asked FETCH items, no STATUS.
	a.ok("SELECT INBOX")
	b.appendMsg("INBOX", `\Flagged`, testMessage(2))
	u = a.ok("NOOP")
	has(t, u, "* 1 EXISTS")
	has(t, u, `* 1 FETCH (UID 1 FLAGS (\Flagged`)
	hasNot(t, u, "* STATUS INBOX")

	// Updates arrive during IDLE too.
	a.send("i1 IDLE\r\n")
	if l := a.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("idle: %q", l)
	}
	b.appendMsg("Work", "", testMessage(3))
	if l := a.readLine(); !strings.HasPrefix(l, "* STATUS Work (MESSAGES 1 ") {
		t.Fatalf("idle notification: %q", l)
	}
	a.send("DONE\r\n")
	if _, st := a.until("i1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("idle end: %q", st)
	}

	// NOTIFY NONE stops notifications; the session keeps its selected
	// mailbox's updates, and drops the hub once unselected.
	a.ok("NOTIFY NONE")
	b.appendMsg("Work", "", testMessage(4))
	u = a.ok("NOOP")
	hasNot(t, u, "* STATUS")
	a.ok("UNSELECT")
	acc, err := ts.st.Account(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// b is unselected and a has neither NOTIFY nor a mailbox.
	if n := ts.st.Hub().Subscribers(acc.ID); n != 0 {
		t.Fatalf("%d hub subscribers left", n)
	}
}

func TestNotifyFilters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.login()
	b := ts.login()
	b.ok("CREATE Work/Sub")
	b.ok("CREATE Other")
	a.ok("NOTIFY SET (subtree Work (MessageNew MessageExpunge)) (mailboxes (Other) (MailboxName))")
	b.appendMsg("Work/Sub", "", testMessage(1))
	b.appendMsg("Other", "", testMessage(2))
	b.appendMsg("INBOX", "", testMessage(3))
	b.ok("CREATE Elsewhere")
	u := a.ok("NOOP")
	has(t, u, `* STATUS Work/Sub (MESSAGES 1 `)
	hasNot(t, u, "* STATUS Other")
	hasNot(t, u, "* STATUS INBOX")
	hasNot(t, u, "Elsewhere")
	b.ok("DELETE Other")
	u = a.ok("NOOP")
	has(t, u, `* LIST (\NonExistent) "/" Other`)

	// inboxes, and subscribed.
	a.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge)) (subscribed (MessageNew MessageExpunge))")
	b.ok("SUBSCRIBE Work")
	b.appendMsg("INBOX", "", testMessage(4))
	b.appendMsg("Work", "", testMessage(5))
	b.appendMsg("Work/Sub", "", testMessage(6))
	u = a.ok("NOOP")
	has(t, u, `* STATUS INBOX (MESSAGES 2 `)
	has(t, u, `* STATUS Work (MESSAGES 1 `)
	hasNot(t, u, "Work/Sub")

	// Errors.
	_, st := a.cmd("NOTIFY SET (personal (MailboxMetadataChange))")
	if !strings.HasPrefix(st, "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]") {
		t.Fatalf("badevent: %q", st)
	}
	a.bad("NOTIFY SET (personal (MessageNew))")
	a.bad("NOTIFY SET (personal (FlagChange))")
	a.bad("NOTIFY SET (nowhere (MessageNew MessageExpunge))")
	a.bad("NOTIFY SET")
	a.bad("NOTIFY SET (selected NONE) (selected NONE)")
	a.ok("NOTIFY SET (selected NONE) (personal NONE)")
	nc := ts.dial()
	nc.bad("NOTIFY NONE") // not authenticated
}

// TestNotifySelectedChanges: with NOTIFY SET (selected (MessageNew
// MessageExpunge FlagChange)), flag changes and expunges another session
// makes in the selected mailbox reach the client as FETCH FLAGS and
// EXPUNGE (VANISHED once QRESYNC is on), while it idles and on NOOP.
func TestNotifySelectedChanges(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := filled(t, ts, 5)
	a := ts.login()
	a.ok("SELECT INBOX")
	a.ok("NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))")
	q := ts.login()
	q.ok("ENABLE QRESYNC")
	q.ok("SELECT INBOX")
	q.ok("NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))")

	// Both idle; b changes a flag, then expunges message 1.
	a.send("i1 IDLE\r\n")
	q.send("i1 IDLE\r\n")
	for _, c := range []*tconn{a, q} {
		if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("idle: %q", l)
		}
	}
	b.ok(`STORE 2 +FLAGS.SILENT (\Flagged)`)
	if l := a.readLine(); !isFlagsFetch(l, 2, `\Flagged`) {
		t.Fatalf("flag change during idle: %q", l)
	}
	if l := q.readLine(); !isFlagsFetch(l, 2, `\Flagged`, "UID 2", "MODSEQ (") {
		t.Fatalf("flag change during idle (qresync): %q", l)
	}
	b.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	if l := a.readLine(); !isFlagsFetch(l, 1, `\Deleted`) {
		t.Fatalf("\\Deleted during idle: %q", l)
	}
	if l := q.readLine(); !isFlagsFetch(l, 1, `\Deleted`, "UID 1", "MODSEQ (") {
		t.Fatalf("\\Deleted during idle (qresync): %q", l)
	}
	b.ok("EXPUNGE")
	if l := a.readLine(); l != "* 1 EXPUNGE" {
		t.Fatalf("expunge during idle: %q", l)
	}
	if l := q.readLine(); l != "* VANISHED 1" {
		t.Fatalf("expunge during idle (qresync): %q", l)
	}
	for _, c := range []*tconn{a, q} {
		c.send("DONE\r\n")
		if u, st := c.until("i1"); !strings.HasPrefix(st, "OK") || len(u) != 0 {
			t.Fatalf("idle end: %q %q", u, st)
		}
	}
	u := a.ok("FETCH 1 (UID FLAGS)")
	if len(u) != 1 || !isFlagsFetch(u[0], 1, `\Flagged`, "UID 2") {
		t.Fatalf("message 1 after the expunge: %q", u)
	}

	// Outside IDLE, NOOP brings them.
	b.ok(`UID STORE 4 +FLAGS.SILENT ($Work)`)
	b.ok(`UID STORE 5 +FLAGS.SILENT (\Deleted)`)
	b.ok("UID EXPUNGE 5")
	u = a.ok("NOOP")
	if !slices.ContainsFunc(u, func(l string) bool { return isFlagsFetch(l, 3, "$Work") }) {
		t.Fatalf("NOOP: %q", u)
	}
	has(t, u, "* 4 EXPUNGE")
	u = q.ok("NOOP")
	if !slices.ContainsFunc(u, func(l string) bool { return isFlagsFetch(l, 3, "$Work", "UID 4", "MODSEQ (") }) {
		t.Fatalf("NOOP (qresync): %q", u)
	}
	hasNot(t, u, "EXPUNGE")
	has(t, u, "* VANISHED 5")
	u = a.ok("FETCH 1:* (UID)")
	if len(u) != 3 || !strings.Contains(u[2], "UID 4") {
		t.Fatalf("after the changes: %q", u)
	}
}

// isFlagsFetch tells whether l is "* seq FETCH (...)" with exactly the
// given flags and every one of the extra items.
func isFlagsFetch(l string, seq int, flags string, extra ...string) bool {
	if !strings.HasPrefix(l, fmt.Sprintf("* %d FETCH (", seq)) || !strings.Contains(l, "FLAGS ("+flags+")") {
		return false
	}
	for _, e := range extra {
		if !strings.Contains(l, e) {
			return false
		}
	}
	return true
}
