package imapserver

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestQresync(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 5)
	u := c.ok("STATUS INBOX (UIDVALIDITY HIGHESTMODSEQ)")
	m := regexp.MustCompile(`UIDVALIDITY (\d+) HIGHESTMODSEQ (\d+)`).FindStringSubmatch(u[0])
	validity, _ := strconv.Atoi(m[1])
	modseq, _ := strconv.Atoi(m[2])
	c.bad(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", validity, modseq)) // not enabled
	// Changes while the client is away.
	c.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	c.ok(`STORE 4 +FLAGS.SILENT (\Flagged)`)
	c.ok("EXPUNGE")
	d := ts.login()
	d.ok("ENABLE QRESYNC")
	u = d.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:5))", validity, modseq))
	has(t, u, "* VANISHED (EARLIER) 2")
	has(t, u, `* 3 FETCH (FLAGS (\Flagged) UID 4 MODSEQ (`)
	// Expunges now come as VANISHED.
	c.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	c.ok("EXPUNGE")
	u = d.ok("NOOP")
	has(t, u, "* VANISHED 1")
	u = d.ok(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", modseq))
	has(t, u, "* VANISHED (EARLIER) 1:2")
	d.bad(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", modseq))
	// A wrong UIDVALIDITY gets a plain select.
	u = d.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", validity+1, modseq))
	for _, l := range u {
		if strings.Contains(l, "VANISHED") {
			t.Fatalf("vanished with wrong uidvalidity: %q", u)
		}
	}
}

// TestQresyncExamine: EXAMINE with QRESYNC reports what vanished and what
// changed like SELECT does, but stays read-only: the new messages stay
// \Recent for the next SELECT and flags cannot be changed.
func TestQresyncExamine(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 6)
	validity, modseq := mailboxState(t, c)
	c.ok(`UID STORE 2 +FLAGS.SILENT (\Deleted)`)
	c.ok("UID EXPUNGE 2")
	c.ok(`UID STORE 4 +FLAGS.SILENT (\Flagged)`)
	c.ok("LOGOUT")
	w := ts.login()
	w.appendMsg("INBOX", "$New", testMessage(7))
	w.appendMsg("INBOX", "", testMessage(8))

	e := ts.login()
	e.ok("ENABLE QRESYNC")
	u, st := e.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d))", validity, modseq))
	if st != "OK [READ-ONLY] EXAMINE completed" {
		t.Fatalf("examine: %q %q", st, u)
	}
	has(t, u, "* 7 EXISTS")
	has(t, u, "* 2 RECENT")
	if got := vanishedEarlier(t, u); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("vanished %v in %q", got, u)
	}
	want := map[uint32]string{4: `\Flagged`, 7: `$New \Recent`, 8: `\Recent`}
	if got := fetchedFlags(u); !maps.Equal(got, want) {
		t.Fatalf("changed flags %v, want %v", got, want)
	}
	_, hms := mailboxState(t, e)
	e.no(`UID STORE 7 +FLAGS (\Seen)`)
	u = e.ok("UID FETCH 8 (BODY[])")
	hasNot(t, u, `\Seen`)

	// EXAMINE claimed no \Recent: a SELECT gets them.
	s := ts.login()
	u = s.ok("SELECT INBOX")
	has(t, u, "* 2 RECENT")
	// Nothing changed since what the EXAMINE reported: an empty answer,
	// after [CLOSED] for the mailbox the session had open.
	u = e.ok(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d))", validity, hms))
	has(t, u, "* OK [CLOSED]")
	hasNot(t, u, "VANISHED")
	hasNot(t, u, "FETCH")
	// The read-only session is told of later expunges as VANISHED.
	s.ok(`UID STORE 5 +FLAGS.SILENT (\Deleted)`)
	s.ok("UID EXPUNGE 5")
	u = e.ok("NOOP")
	has(t, u, "* VANISHED 5")
}
