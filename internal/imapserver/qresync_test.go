package imapserver

import (
	"fmt"
	"regexp"
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
