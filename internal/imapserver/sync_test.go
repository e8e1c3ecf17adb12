package imapserver

import (
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
)

// prunedStore is the real store with expunge tombstones older than a
// mod-sequence treated as pruned, as sqlite does after
// Options.TombstoneRetention, with the horizon switched on and off at
// will. Everything else is the real store. TestQresyncRealPruning runs
// the store's own pruning instead.
type prunedStore struct {
	store.Store
	below atomic.Uint64 // tombstones with modseq <= below are gone
}

func (p *prunedStore) ChangesSince(ctx context.Context, account store.AccountID, mailbox store.MailboxID, since uint64) (store.Changes, error) {
	ch, err := p.Store.ChangesSince(ctx, account, mailbox, since)
	if err == nil && since < p.below.Load() {
		ch.Vanished, ch.TombstonesPruned = nil, true
	}
	return ch, err
}

var (
	validityRe = regexp.MustCompile(`UIDVALIDITY (\d+)`)
	modseqRe   = regexp.MustCompile(`HIGHESTMODSEQ (\d+)`)
	fetchRe    = regexp.MustCompile(`^\* \d+ (?:UID)?FETCH \(`)
	flagsRe    = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
	fetchUIDRe = regexp.MustCompile(`(?:UID (\d+)|^\* (\d+) UIDFETCH)`)
)

// mailboxState returns UIDVALIDITY and HIGHESTMODSEQ of INBOX.
func mailboxState(t testing.TB, c *tconn) (uint32, uint64) {
	t.Helper()
	u := c.ok("STATUS INBOX (UIDVALIDITY HIGHESTMODSEQ)")
	v, err1 := strconv.ParseUint(validityRe.FindStringSubmatch(u[0])[1], 10, 32)
	m, err2 := strconv.ParseUint(modseqRe.FindStringSubmatch(u[0])[1], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("status %q", u)
	}
	return uint32(v), m
}

// vanishedEarlier returns the UIDs of the VANISHED (EARLIER) lines.
func vanishedEarlier(t testing.TB, lines []string) []uint32 {
	t.Helper()
	return vanishedAfter(t, lines, "* VANISHED (EARLIER) ")
}

// vanished returns the UIDs of the VANISHED lines without EARLIER.
func vanished(t testing.TB, lines []string) []uint32 {
	t.Helper()
	return vanishedAfter(t, lines, "* VANISHED ")
}

// vanishedAfter returns the UIDs of the lines starting with prefix.
func vanishedAfter(t testing.TB, lines []string, prefix string) []uint32 {
	t.Helper()
	var out []uint32
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok || strings.HasPrefix(rest, "(") {
			continue
		}
		d := imapwire.NewDecoder(bufio.NewReader(strings.NewReader(rest+"\r\n")), imapwire.Limits{})
		d.Begin()
		var set imapwire.SeqSet
		if !d.ExpectSeqSet(&set) {
			t.Fatalf("bad VANISHED %q", l)
		}
		out = append(out, expandSet(set, 0)...)
	}
	slices.Sort(out)
	return out
}

// fetchedFlags maps UID to the flags of the FETCH responses in lines.
func fetchedFlags(lines []string) map[uint32]string {
	out := map[uint32]string{}
	for _, l := range lines {
		if !fetchRe.MatchString(l) {
			continue
		}
		f, u := flagsRe.FindStringSubmatch(l), fetchUIDRe.FindStringSubmatch(l)
		if f != nil && u != nil {
			n, _ := strconv.ParseUint(u[1]+u[2], 10, 32)
			out[uint32(n)] = f[1]
		}
	}
	return out
}

func TestQresyncSeqMatchPruned(t *testing.T) {
	t.Parallel()
	var ps *prunedStore
	ts := newTestServer(t, func(o *Options) {
		ps = &prunedStore{Store: o.Store}
		o.Store = ps
	})
	c := filled(t, ts, 10)
	c.ok(`STORE 4 +FLAGS.SILENT (\Deleted)`)
	c.ok("EXPUNGE") // UID 4 goes; the client below knows it
	validity, modseq := mailboxState(t, c)
	c.ok(`UID STORE 8 +FLAGS.SILENT (\Deleted)`)
	c.ok("EXPUNGE")
	_, now := mailboxState(t, c)
	ps.below.Store(now) // every tombstone is pruned

	d := ts.login()
	d.ok("ENABLE QRESYNC")
	sel := func(extra string) []string {
		return d.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:10%s))", validity, modseq, extra))
	}
	// No seq-match data: every UID not in the mailbox is reported.
	if got := vanishedEarlier(t, sel("")); !slices.Equal(got, []uint32{4, 8}) {
		t.Fatalf("vanished without seq-match: %v", got)
	}
	// Seq 4 still is UID 5, seq 7 no longer UID 8: only UIDs above 5
	// can have vanished since (RFC 7162 §3.2.5.2).
	u := sel(" (4,7 5,8)")
	has(t, u, "* OK [CLOSED]")
	if got := vanishedEarlier(t, u); !slices.Equal(got, []uint32{8}) {
		t.Fatalf("vanished with seq-match: %v", got)
	}
	// An out-of-date list (seq 4 was UID 4 long ago) rules nothing out.
	if got := vanishedEarlier(t, sel(" (4 4)")); !slices.Equal(got, []uint32{4, 8}) {
		t.Fatalf("vanished with stale seq-match: %v", got)
	}
	// Lists of different lengths are ignored, not an error.
	if got := vanishedEarlier(t, sel(" (1:3 1:2)")); !slices.Equal(got, []uint32{4, 8}) {
		t.Fatalf("vanished with uneven seq-match: %v", got)
	}
	d.bad(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:10 (1:3)))", validity, modseq))
	// With tombstones (not pruned) the answer is exact whatever the list.
	ps.below.Store(0)
	if got := vanishedEarlier(t, sel(" (4 4)")); !slices.Equal(got, []uint32{8}) {
		t.Fatalf("vanished with tombstones: %v", got)
	}
}

// TestQresyncRealPruning runs the store's own tombstone pruning (a
// retention of one hour on a test clock that jumps two hours) between two
// sessions: a QRESYNC client from before the horizon gets every UID missing
// from the mailbox (also those it knew were gone) and the current flags of
// what changed since its mod-sequence; a client from after the horizon
// still gets the exact list.
func TestQresyncRealPruning(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ts := newTestServerStore(t, t.TempDir(), sqlite.Options{Clock: clock, TombstoneRetention: time.Hour})
	ctx := context.Background()
	acc, err := ts.st.Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := ts.st.Mailbox(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}

	w := filled(t, ts, 10)
	w.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
	w.ok("UID EXPUNGE 1")
	// The old client's last sync: it knows UID 1 is gone.
	a := ts.login()
	a.ok("ENABLE QRESYNC")
	a.ok("SELECT INBOX")
	validity, m0 := mailboxState(t, a)

	w.ok("UID STORE 2:3 +FLAGS.SILENT (\\Deleted)")
	w.ok("UID EXPUNGE 2:3")
	w.ok("UID STORE 4 +FLAGS.SILENT (\\Flagged)")
	_, m1 := mailboxState(t, w) // a client synced here is after the horizon
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	w.ok("UID STORE 7 +FLAGS.SILENT (\\Deleted)")
	w.ok("UID EXPUNGE 7")
	w.ok("UID STORE 5 +FLAGS.SILENT ($Later)")
	w.ok("UID STORE 9 +FLAGS.SILENT (\\Answered)")

	if err := ts.st.(*sqlite.DB).Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	ch, err := ts.st.ChangesSince(ctx, acc.ID, inbox.ID, m0)
	if err != nil || !ch.TombstonesPruned {
		t.Fatalf("store did not prune the tombstones of UIDs 1-3: %+v %v", ch, err)
	}
	ch, err = ts.st.ChangesSince(ctx, acc.ID, inbox.ID, m1)
	if err != nil || ch.TombstonesPruned || !slices.Equal(ch.Vanished, []store.UID{7}) {
		t.Fatalf("the tombstone of UID 7 is not kept: %+v %v", ch, err)
	}

	wantFlags := map[uint32]string{4: `\Flagged`, 5: `$Later`, 9: `\Answered`}
	d := ts.login()
	d.ok("ENABLE QRESYNC")
	u := d.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", validity, m0))
	if got := vanishedEarlier(t, u); !slices.Equal(got, []uint32{1, 2, 3, 7}) {
		t.Fatalf("full resync vanished %v, want 1:3,7 (%q)", got, u)
	}
	if got := fetchedFlags(u); !maps.Equal(got, wantFlags) {
		t.Fatalf("full resync flags %v, want %v", got, wantFlags)
	}
	// Known UIDs narrow the report.
	u = d.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 2:10))", validity, m0))
	if got := vanishedEarlier(t, u); !slices.Equal(got, []uint32{2, 3, 7}) {
		t.Fatalf("known 2:10: vanished %v", got)
	}
	if got := fetchedFlags(u); !maps.Equal(got, wantFlags) {
		t.Fatalf("known 2:10: flags %v", got)
	}
	// After the horizon: only what vanished since.
	u = d.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", validity, m1))
	if got := vanishedEarlier(t, u); !slices.Equal(got, []uint32{7}) {
		t.Fatalf("resync after the horizon: vanished %v", got)
	}
	if got, want := fetchedFlags(u), map[uint32]string{5: `$Later`, 9: `\Answered`}; !maps.Equal(got, want) {
		t.Fatalf("resync after the horizon: flags %v, want %v", got, want)
	}
	// The old session, still selected through all of it, catches up.
	u = a.ok("NOOP")
	if got := vanished(t, u); !slices.Equal(got, []uint32{2, 3, 7}) {
		t.Fatalf("selected session: vanished %v (%q)", got, u)
	}
	if got := fetchedFlags(u); !maps.Equal(got, wantFlags) {
		t.Fatalf("selected session: flags %v, want %v", got, wantFlags)
	}
}

// TestQresyncReconnectAfterManyChanges: one connection makes 10,000 flag
// changes and 1,000 expunges; a client that reconnects with QRESYNC gets
// exactly the vanished UIDs and the final flags of the changed messages,
// and so does a session that stayed selected. 6,000 of the changes come in
// STOREs of 1,000 messages, which the store announces as one event
// (flagEventsMax); 3,000 in STOREs of 50 and 1,000 in STOREs of 64 and 65
// messages, announced per message or not on either side of that bound.
func TestQresyncReconnectAfterManyChanges(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const n = 3000
	bulkMailbox(t, ts, n)
	c := ts.login()
	c.ok("ENABLE QRESYNC")
	c.ok("SELECT INBOX")
	validity, modseq := mailboxState(t, c)
	live := ts.login()
	live.ok("ENABLE QRESYNC")
	live.ok("SELECT INBOX")

	// The changer. want holds the keywords each message ends up with.
	w := ts.login()
	w.ok("SELECT INBOX")
	want := map[uint32][]string{}
	changes := 0
	add := func(uids []uint32, kw string) {
		w.ok("UID STORE " + imapwire.FormatNumSet(uids) + " +FLAGS.SILENT (" + kw + ")")
		for _, u := range uids {
			want[u] = append(want[u], kw)
		}
		changes += len(uids)
	}
	span := func(lo, hi uint32) []uint32 {
		var out []uint32
		for u := lo; u <= hi; u++ {
			out = append(out, u)
		}
		return out
	}
	for r := uint32(0); r < 6; r++ {
		lo := r*400 + 1
		add(span(lo, lo+999), fmt.Sprintf("$k%d", r))
		for k := uint32(0); k < 10; k++ {
			lo := (r*10+k)*50 + 1
			add(span(lo, lo+49), "$small")
		}
	}
	var third []uint32 // every third UID from 1, in sets of 64 and 65
	for u := uint32(1); u <= n; u += 3 {
		third = append(third, u)
	}
	for k := 0; len(third) > 0; k++ {
		m := min(len(third), 64+k%2)
		add(third[:m], "$edge")
		third = third[m:]
	}
	if changes != 10000 {
		t.Fatalf("%d flag changes, want 10000", changes)
	}
	var gone []uint32
	for u := uint32(3); u <= n; u += 3 {
		gone = append(gone, u)
		delete(want, u)
	}
	if len(gone) != 1000 {
		t.Fatalf("%d expunges, want 1000", len(gone))
	}
	w.ok("UID STORE " + imapwire.FormatNumSet(gone) + ` +FLAGS.SILENT (\Deleted)`)
	w.ok("UID EXPUNGE " + imapwire.FormatNumSet(gone))
	c.ok("LOGOUT")

	// checkFlags compares fetched flags with \Seen plus the keywords added.
	checkFlags := func(what string, got map[uint32]string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: fetched %d messages, want %d", what, len(got), len(want))
		}
		for uid, kws := range want {
			flags := strings.Fields(got[uid])
			exp := append([]string{`\Seen`}, kws...)
			slices.Sort(flags)
			slices.Sort(exp)
			if !slices.Equal(flags, exp) {
				t.Fatalf("%s: UID %d has flags %q, want %q", what, uid, flags, exp)
			}
		}
	}
	d := ts.login()
	d.ok("ENABLE QRESYNC")
	u := d.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:%d))", validity, modseq, n))
	if got := vanishedEarlier(t, u); !slices.Equal(got, gone) {
		t.Fatalf("vanished: %d UIDs, want %d", len(got), len(gone))
	}
	checkFlags("select qresync", fetchedFlags(u))
	// The same through UID FETCH CHANGEDSINCE VANISHED.
	u = d.ok(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", modseq))
	if got := vanishedEarlier(t, u); !slices.Equal(got, gone) {
		t.Fatalf("fetch vanished: %d UIDs, want %d", len(got), len(gone))
	}
	checkFlags("fetch changedsince", fetchedFlags(u))
	// The session selected all along learns the same from the hub's events.
	u = live.ok("NOOP")
	if got := vanished(t, u); !slices.Equal(got, gone) {
		t.Fatalf("live session vanished: %d UIDs, want %d", len(got), len(gone))
	}
	checkFlags("live session", fetchedFlags(u))
}

func TestCondstoreTwoSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := filled(t, ts, 4)
	u := a.ok("SELECT INBOX (CONDSTORE)")
	has(t, u, "* OK [HIGHESTMODSEQ ")
	_, m0 := mailboxState(t, a)
	b := ts.login()
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS.SILENT (\Flagged)`)
	u = a.ok(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", m0))
	has(t, u, `* 2 FETCH (FLAGS (\Flagged) MODSEQ (`)
	hasNot(t, u, "* 1 FETCH")
	// A's view of message 2 is stale: the conditional store fails.
	u, st := a.cmd(fmt.Sprintf(`STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\Seen)`, m0))
	if st != "OK [MODIFIED 2] STORE completed" {
		t.Fatalf("conditional store: %q %q", st, u)
	}
	has(t, u, `* 1 FETCH (FLAGS (\Seen) MODSEQ (`)
	// RFC 7162 §3.1.3: UNCHANGEDSINCE 0 fails for every message.
	_, st = a.cmd(`STORE 1:4 (UNCHANGEDSINCE 0) +FLAGS (\Answered)`)
	if st != "OK [MODIFIED 1:4] STORE completed" {
		t.Fatalf("unchangedsince 0: %q", st)
	}
	u = a.ok("FETCH 1:4 (FLAGS)")
	hasNot(t, u, `\Answered`)
	u = a.ok("SEARCH MODSEQ " + strconv.FormatUint(m0+1, 10))
	has(t, u, "* SEARCH 1 2 (MODSEQ ")
	u = a.ok("STATUS INBOX (HIGHESTMODSEQ)")
	hasNot(t, u, "NOMODSEQ")
}

func TestSearchSeqBeyondMailbox(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 3)
	u := c.ok("SEARCH 2:100")
	has(t, u, "* SEARCH 2 3")
	u = c.ok("SEARCH 50")
	has(t, u, "* SEARCH")
	hasNot(t, u, "* SEARCH 1")
	u = c.ok("SEARCH OR 7 1")
	has(t, u, "* SEARCH 1")
	// FETCH and STORE still refuse numbers beyond the mailbox.
	c.bad("FETCH 4 (FLAGS)")
}

func TestNewKeywordAnnounced(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 2)
	other := ts.login()
	other.ok("SELECT INBOX")
	u := c.ok("STORE 1 +FLAGS ($Important)")
	if len(u) < 3 || !strings.HasPrefix(u[0], "* FLAGS (") || !strings.Contains(u[0], "$Important") ||
		!strings.HasPrefix(u[1], "* OK [PERMANENTFLAGS (") || !strings.Contains(u[1], `$Important \*)]`) {
		t.Fatalf("own store: %q", u)
	}
	has(t, u, `* 1 FETCH (FLAGS ($Important`)
	// The other session learns the keyword before the FETCH using it.
	u = other.ok("NOOP")
	if len(u) < 3 || !strings.Contains(u[0], "$Important") || !strings.HasPrefix(u[2], "* 1 FETCH") {
		t.Fatalf("other session: %q", u)
	}
	// A known keyword is not announced again; a new message with a new
	// keyword is.
	u = c.ok("STORE 2 +FLAGS ($Important)")
	hasNot(t, u, "* FLAGS")
	other.appendMsg("INBOX", "Work", testMessage(3))
	u = c.ok("NOOP")
	has(t, u, "* FLAGS (")
	has(t, u, "Work")
	has(t, u, "* 3 EXISTS")
	u = other.ok("EXAMINE INBOX")
	has(t, u, "$Important Work")
}

// TestCompressByteByByte: a compressed client that writes one byte at a
// time (each flushed) and reads the whole answer before the next command
// must never stall the server's decompressor.
func TestCompressByteByByte(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 2)
	if _, st := c.cmd("COMPRESS DEFLATE"); st != "OK DEFLATE active" {
		t.Fatalf("compress: %q", st)
	}
	fw, _ := flate.NewWriter(c.c, flate.BestCompression)
	fc := &flateConn{Conn: c.c, r: flate.NewReader(c.r), fw: fw}
	c.c, c.r = fc, bufio.NewReader(fc)
	for i, cmd := range []string{"NOOP", "FETCH 1:* (FLAGS UID)", `UID STORE 2 +FLAGS (\Seen)`, "STATUS INBOX (MESSAGES)", "FETCH 2 BODY.PEEK[]"} {
		tag := fmt.Sprintf("b%d", i)
		line := tag + " " + cmd + "\r\n"
		for k := 0; k < len(line); k++ {
			c.send(line[k : k+1])
		}
		u, st := c.until(tag)
		if !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: %q %q", cmd, st, u)
		}
		if i == 4 {
			has(t, u, "Hello body 2")
		}
	}
	c.ok("LOGOUT")
}

// TestObjectIDStable: MAILBOXID, EMAILID and THREADID survive renames,
// moves and a restart of server and store.
func TestObjectIDStable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ids := func(c *tconn, mailbox string) (string, string, string) {
		t.Helper()
		u := c.ok("SELECT " + mailbox)
		mboxID := regexp.MustCompile(`MAILBOXID \(([^)]+)\)`).FindStringSubmatch(strings.Join(u, "\n"))
		u = c.ok("FETCH 1 (EMAILID THREADID)")
		m := regexp.MustCompile(`EMAILID \(([^)]+)\) THREADID \(([^)]+)\)`).FindStringSubmatch(strings.Join(u, "\n"))
		if mboxID == nil || m == nil {
			t.Fatalf("no object ids in %q", u)
		}
		return mboxID[1], m[1], m[2]
	}
	ts := newTestServerAt(t, dir)
	c := ts.login()
	c.ok("CREATE Work")
	c.appendMsg("Work", "", testMessage(1))
	mbox, email, thread := ids(c, "Work")
	c.ok("RENAME Work Projects")
	if m, e, th := ids(c, "Projects"); m != mbox || e != email || th != thread {
		t.Fatalf("after rename: %s %s %s, want %s %s %s", m, e, th, mbox, email, thread)
	}
	c.ok("CREATE Archive2")
	c.ok("MOVE 1 Archive2")
	if _, e, th := ids(c, "Archive2"); e != email || th != thread {
		t.Fatalf("after move: %s %s, want %s %s", e, th, email, thread)
	}
	c.ok("LOGOUT")
	ts.stop()

	ts = newTestServerAt(t, dir)
	c = ts.login()
	if _, e, th := ids(c, "Archive2"); e != email || th != thread {
		t.Fatalf("after restart: %s %s, want %s %s", e, th, email, thread)
	}
	if m, _, _ := idsEmpty(t, c, "Projects"); m != mbox {
		t.Fatalf("mailbox id after restart: %s, want %s", m, mbox)
	}
}

// objectIDs selects mailbox and returns its MAILBOXID and, per message
// (by UID), "EMAILID THREADID".
func objectIDs(t *testing.T, c *tconn, mailbox string) (string, map[uint32]string) {
	t.Helper()
	u := c.ok("SELECT " + mailbox)
	mboxID := regexp.MustCompile(`MAILBOXID \(([^)]+)\)`).FindStringSubmatch(strings.Join(u, "\n"))
	if mboxID == nil {
		t.Fatalf("no MAILBOXID in %q", u)
	}
	u = c.ok("UID FETCH 1:* (EMAILID THREADID)")
	idRe := regexp.MustCompile(`EMAILID \(([^)]+)\) THREADID \(([^)]+)\)`)
	out := map[uint32]string{}
	for _, l := range u {
		uid, m := fetchUIDRe.FindStringSubmatch(l), idRe.FindStringSubmatch(l)
		if uid == nil || m == nil {
			t.Fatalf("no object ids in %q", l)
		}
		n, _ := strconv.ParseUint(uid[1]+uid[2], 10, 32)
		out[uint32(n)] = m[1] + " " + m[2]
	}
	return mboxID[1], out
}

// TestObjectIDTwoSessions: the MAILBOXID, EMAILID and THREADID one
// session sees are the ones another session sees, after that other
// session's MOVE and RENAME too, and the first one's.
func TestObjectIDTwoSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.login()
	b := ts.login()
	a.ok("CREATE Work")
	a.ok("CREATE Keep")
	reply := "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: Re: test message 1\r\n" +
		"Message-ID: <r1@example.com>\r\nIn-Reply-To: <m1@example.com>\r\n\r\nA reply\r\n"
	a.appendMsg("Work", "", testMessage(1))
	a.appendMsg("Work", "", reply)
	a.appendMsg("Work", "", testMessage(2))
	work, ids := objectIDs(t, a, "Work")
	if len(ids) != 3 {
		t.Fatalf("ids %v", ids)
	}
	email := func(uid uint32) string { return strings.Fields(ids[uid])[0] }
	thread := func(uid uint32) string { return strings.Fields(ids[uid])[1] }
	if email(1) == email(2) || email(1) == email(3) || thread(1) != thread(2) || thread(1) == thread(3) {
		t.Fatalf("ids of a thread of two and a lone message: %v", ids)
	}

	// b sees the same ids; then it moves the reply and renames the mailbox.
	if m, got := objectIDs(t, b, "Work"); m != work || !maps.Equal(got, ids) {
		t.Fatalf("second session: %s %v, want %s %v", m, got, work, ids)
	}
	b.ok("UID MOVE 2 Keep")
	b.ok("UNSELECT")
	b.ok("RENAME Work Projects")
	a.ok("UNSELECT")
	m, got := objectIDs(t, a, "Projects")
	if m != work || len(got) != 2 || got[1] != ids[1] || got[3] != ids[3] {
		t.Fatalf("first session after the other's move and rename: %s %v, want %s and %v", m, got, work, ids)
	}
	_, got = objectIDs(t, a, "Keep")
	if len(got) != 1 || got[1] != ids[2] {
		t.Fatalf("moved message as the first session sees it: %v, want %s", got, ids[2])
	}
	// a moves it back; b finds the ids it saw at first.
	a.ok("UID MOVE 1 Projects")
	_, got = objectIDs(t, b, "Projects")
	want := map[uint32]string{1: ids[1], 3: ids[3], 4: ids[2]}
	if !maps.Equal(got, want) {
		t.Fatalf("second session after the first one's move: %v, want %v", got, want)
	}
}

// idsEmpty returns the MAILBOXID of a mailbox without messages.
func idsEmpty(t *testing.T, c *tconn, mailbox string) (string, string, string) {
	t.Helper()
	u := c.ok("STATUS " + mailbox + " (MAILBOXID)")
	m := regexp.MustCompile(`MAILBOXID \(([^)]+)\)`).FindStringSubmatch(u[0])
	if m == nil {
		t.Fatalf("status %q", u)
	}
	return m[1], "", ""
}

var _ = time.Second

func TestUIDOnly(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 4)
	u := c.ok("CAPABILITY")
	has(t, u, " UIDONLY")
	u = c.ok("ENABLE UIDONLY")
	has(t, u, "* ENABLED UIDONLY")
	other := ts.login()
	other.ok("SELECT INBOX")
	for _, cmd := range []string{"FETCH 1 (FLAGS)", `STORE 1 +FLAGS (\Seen)`, "SEARCH ALL", "COPY 1 INBOX", "MOVE 1 INBOX", "SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "UID SEARCH 1:2"} {
		_, st := c.cmd(cmd)
		if !strings.HasPrefix(st, "BAD [UIDREQUIRED]") {
			t.Fatalf("%s: %q", cmd, st)
		}
	}
	// A refused command with a literal leaves the connection in step.
	c.send("x1 SEARCH SUBJECT {4+}\r\ntest\r\n")
	if _, st := c.until("x1"); !strings.HasPrefix(st, "BAD [UIDREQUIRED]") {
		t.Fatalf("literal search: %q", st)
	}
	u = c.ok("UID FETCH 2:3 (UID FLAGS)")
	if len(u) != 2 || !strings.HasPrefix(u[0], "* 2 UIDFETCH (FLAGS (") || !strings.HasPrefix(u[1], "* 3 UIDFETCH (FLAGS (") || strings.Contains(u[0], "UID 2") {
		t.Fatalf("uid fetch: %q", u)
	}
	u = c.ok(`UID STORE 3 +FLAGS (\Flagged)`)
	has(t, u, `* 3 UIDFETCH (FLAGS (\Flagged`)
	u = c.ok("UID SEARCH FLAGGED")
	has(t, u, "* SEARCH 3")
	// Another session's changes come as UIDFETCH and VANISHED.
	other.ok(`UID STORE 1,4 +FLAGS.SILENT (\Deleted)`)
	other.ok("EXPUNGE")
	other.ok(`UID STORE 2 +FLAGS.SILENT (\Answered)`)
	u = c.ok("NOOP")
	has(t, u, "* VANISHED 1,4")
	has(t, u, `* 2 UIDFETCH (FLAGS (\Answered`)
	hasNot(t, u, "EXPUNGE")
}

// TestDelayedExpungeModSeqFloor: while an expunge waits (FETCH by sequence
// number may not carry EXPUNGE), FETCH responses with MODSEQ are followed
// by a HIGHESTMODSEQ below the expunge's, so a client that stores it does
// not skip the expunge after a disconnect (RFC 7162 §3.2, RFC 5162
// errata 1810). With QRESYNC every FETCH response carries the UID.
func TestDelayedExpungeModSeqFloor(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := filled(t, ts, 3)
	a.ok("ENABLE QRESYNC")
	a.ok("SELECT INBOX")
	_, before := mailboxState(t, a)
	b := ts.login()
	b.ok("SELECT INBOX")
	b.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	b.ok(`UID STORE 2 +FLAGS.SILENT (\Flagged)`)
	u := a.ok("FETCH 3 (FLAGS)")
	hasNot(t, u, "VANISHED")
	has(t, u, `* 3 FETCH (UID 3 FLAGS (`) // its own answer, with the UID
	has(t, u, `* 2 FETCH (FLAGS (\Flagged) UID 2 MODSEQ (`)
	has(t, u, fmt.Sprintf("* OK [HIGHESTMODSEQ %d] ", before))
	u = a.ok("NOOP")
	has(t, u, "* VANISHED 1")
}

func TestInProgress(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.progressAlways = true })
	c := filled(t, ts, 3)
	u := c.ok("CAPABILITY")
	has(t, u, " INPROGRESS")
	u = c.ok("FETCH 1:* (UID)")
	want := []string{"* 1 FETCH (UID 1)", `* OK [INPROGRESS ("t7" 1 3)] Working`, "* 2 FETCH (UID 2)", `* OK [INPROGRESS ("t7" 2 3)] Working`}
	for i, w := range want {
		if i >= len(u) || u[i] != w {
			t.Fatalf("progress: %q", u)
		}
	}
	// The default interval says nothing for a short FETCH.
	plain := newTestServer(t)
	c = filled(t, plain, 3)
	u = c.ok("FETCH 1:* (UID)")
	hasNot(t, u, "INPROGRESS")
}

func TestUIDOnlySelect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 2)
	u := c.ok("SELECT INBOX")
	has(t, u, "[UNSEEN 1]")
	c.ok("ENABLE UIDONLY QRESYNC")
	validity, modseq := mailboxState(t, c)
	u = c.ok("SELECT INBOX")
	hasNot(t, u, "UNSEEN")
	_, st := c.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:2 (1 1)))", validity, modseq))
	if !strings.HasPrefix(st, "BAD [UIDREQUIRED]") {
		t.Fatalf("seq-match under UIDONLY: %q", st)
	}
	c.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:2))", validity, modseq))
}

func TestExpungeHighestModSeq(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 2)
	c.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	_, st := c.cmd("EXPUNGE")
	if st != "OK EXPUNGE completed" {
		t.Fatalf("plain expunge: %q", st)
	}
	c.ok("ENABLE CONDSTORE")
	c.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	u, st := c.cmd("EXPUNGE")
	_, modseq := mailboxState(t, c)
	if st != fmt.Sprintf("OK [HIGHESTMODSEQ %d] EXPUNGE completed", modseq) {
		t.Fatalf("condstore expunge: %q %q", st, u)
	}
}
