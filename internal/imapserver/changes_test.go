package imapserver

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

func TestChangesCache(t *testing.T) {
	var c changesCache
	k := changesKey{account: 1, mailbox: 2, since: 5}
	c.put(k, store.Changes{HighestModSeq: 10, Changed: []store.MessageRef{{UID: 7, ModSeq: 10, Flags: []string{`\Seen`}}}})
	if _, ok := c.get(k, 11); ok {
		t.Fatal("an answer up to modseq 10 served a session that needs 11")
	}
	ch, ok := c.get(k, 10)
	if !ok || len(ch.Changed) != 1 || ch.Changed[0].UID != 7 {
		t.Fatalf("get: %+v %v", ch, ok)
	}
	if len(ch.Changed[0].Flags) != 1 || ch.Changed[0].Flags[0] != `\Seen` {
		t.Fatalf("flags: %+v", ch.Changed[0])
	}
	// An older answer does not replace a newer one.
	c.put(k, store.Changes{HighestModSeq: 8})
	if _, ok := c.get(k, 10); !ok {
		t.Fatal("older answer replaced the newer one")
	}
	// Answers that need a full resynchronization are not kept.
	k2 := changesKey{account: 1, mailbox: 2, since: 1}
	c.put(k2, store.Changes{HighestModSeq: 20, TombstonesPruned: true})
	if _, ok := c.get(k2, 0); ok {
		t.Fatal("kept an answer with pruned tombstones")
	}
	if _, ok := c.get(changesKey{account: 1, mailbox: 3, since: 5}, 0); ok {
		t.Fatal("answer served for another mailbox")
	}
}

// Many sessions idle on one mailbox while deliveries come in quick
// succession from several other sessions: every idler sees every message
// (the shared answers never hide a change), and each new message is
// \Recent in exactly one session (RFC 3501 §2.3.2).
func TestIdleBurstSharedChanges(t *testing.T) {
	ts := newTestServer(t)
	const idlers, writers, perWriter = 12, 3, 8
	var sessions []*tconn
	for range idlers {
		c := ts.login()
		c.ok("SELECT INBOX")
		c.send("I IDLE\r\n")
		if l := c.readLine(); !strings.HasPrefix(l, "+") {
			t.Fatalf("IDLE: %q", l)
		}
		sessions = append(sessions, c)
	}
	var wg sync.WaitGroup
	for w := range writers {
		c := ts.login()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				c.appendMsg("INBOX", "", testMessage(w*perWriter+i))
			}
		}()
	}
	wg.Wait()
	const total = writers * perWriter
	want := fmt.Sprintf("* %d EXISTS", total)
	for i, c := range sessions {
		c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			l := c.readLine()
			if l == want {
				break
			}
			if !strings.HasPrefix(l, "* ") {
				t.Fatalf("idler %d: %q while waiting for %q", i, l, want)
			}
		}
		c.c.SetReadDeadline(time.Time{})
		c.send("DONE\r\n")
		c.until("I")
	}
	recent := make(map[string]int)
	for _, c := range sessions {
		lines := c.ok("FETCH 1:* (UID FLAGS)")
		for _, l := range lines {
			if strings.Contains(l, `\Recent`) {
				uid := strings.Fields(l[strings.Index(l, "UID "):])[1]
				recent[uid]++
			}
		}
	}
	if len(recent) != total {
		t.Errorf("%d of %d messages \\Recent in some session: %v", len(recent), total, recent)
	}
	for uid, n := range recent {
		if n != 1 {
			t.Errorf("UID %s \\Recent in %d sessions", uid, n)
		}
	}
}

// resolveChanged keeps, of the messages a set names, those changed after
// the given MODSEQ, for UID sets, sequence sets and "$", and still refuses
// a sequence number beyond the mailbox.
func TestViewResolveChanged(t *testing.T) {
	v := &view{uids: []store.UID{2, 4, 6, 8, 10}, modseqs: []uint64{5, 9, 3, 12, 7}, searchRes: []store.UID{10, 8, 4, 3}}
	r := func(start, stop uint32) imapwire.SeqRange { return imapwire.SeqRange{Start: start, Stop: stop} }
	for _, tc := range []struct {
		set  imapwire.SeqSet
		uid  bool
		want string
	}{
		{imapwire.SeqSet{Ranges: []imapwire.SeqRange{r(1, 0)}}, true, "[4 8]"},         // UID 1:*
		{imapwire.SeqSet{Ranges: []imapwire.SeqRange{r(5, 9)}}, true, "[8]"},           // UIDs the view partly lacks
		{imapwire.SeqSet{Ranges: []imapwire.SeqRange{r(11, 20)}}, true, "[]"},          // none in the view
		{imapwire.SeqSet{Ranges: []imapwire.SeqRange{r(1, 0)}}, false, "[4 8]"},        // 1:*
		{imapwire.SeqSet{Ranges: []imapwire.SeqRange{r(3, 5), r(1, 1)}}, false, "[8]"}, // 1,3:5
		{imapwire.SeqSet{SearchRes: true}, true, "[8 4]"},                              // $ (3 is gone)
	} {
		got, err := v.resolveChanged(tc.set, tc.uid, 7)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("resolveChanged(%v, uid %v, 7) = %v, %v; want %s", tc.set, tc.uid, got, err, tc.want)
		}
	}
	if _, err := v.resolveChanged(imapwire.SeqSet{Ranges: []imapwire.SeqRange{r(4, 6)}}, false, 7); err != errBadSeq {
		t.Errorf("sequence 4:6 of 5 messages: err %v, want %v", err, errBadSeq)
	}
}

// A flag change on more messages than get an event each (one event with
// UID 0 stands for them) still reaches other sessions, in IDLE and at
// NOOP, and the session that made it is not told its own changes again.
func TestBigStoreReachesOtherSessions(t *testing.T) {
	ts := newTestServer(t)
	const n = 150
	bulkMailbox(t, ts, n)
	a, b, idler := ts.login(), ts.login(), ts.login()
	for _, c := range []*tconn{a, b, idler} {
		c.ok("SELECT INBOX")
	}
	idler.send("I IDLE\r\n")
	if l := idler.readLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	if u := a.ok(`STORE 1:* +FLAGS.SILENT (\Flagged)`); len(u) != 0 {
		t.Fatalf("STORE .SILENT answered %d untagged lines: %q", len(u), u[0])
	}
	if u := a.ok("NOOP"); len(u) != 0 {
		t.Fatalf("NOOP after own STORE: %d untagged lines, first %q", len(u), u[0])
	}
	flagged := func(lines []string) int {
		k := 0
		for _, l := range lines {
			if strings.Contains(l, " FETCH ") && strings.Contains(l, `\Flagged`) {
				k++
			}
		}
		return k
	}
	if k := flagged(b.ok("NOOP")); k != n {
		t.Fatalf("other session saw %d of %d flag changes", k, n)
	}
	idler.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string
	for len(got) < n {
		l := idler.readLine()
		if strings.Contains(l, " FETCH ") {
			got = append(got, l)
		}
	}
	idler.c.SetReadDeadline(time.Time{})
	if k := flagged(got); k != n {
		t.Fatalf("idling session saw %d of %d flag changes", k, n)
	}
	idler.send("DONE\r\n")
	idler.until("I")
}
