package imapserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

// aliceInbox returns alice's account and INBOX.
func aliceInbox(b testing.TB, ts *testServer) (store.Account, store.Mailbox) {
	b.Helper()
	ctx := context.Background()
	acc, err := ts.st.Account(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	mb, err := ts.st.Mailbox(ctx, acc.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	return acc, mb
}

// bulkMailbox fills alice's INBOX with n messages straight through the
// store (one Stage per distinct body, Append in batches).
func bulkMailbox(b testing.TB, ts *testServer, n int) {
	b.Helper()
	ctx := context.Background()
	acc, mb := aliceInbox(b, ts)
	var staged []*store.Staged
	for i := 0; i < 10; i++ {
		s, err := ts.st.Stage(ctx, strings.NewReader(testMessage(i)), 0)
		if err != nil {
			b.Fatal(err)
		}
		staged = append(staged, s)
	}
	for done := 0; done < n; {
		var reqs []store.AppendRequest
		for k := 0; k < 500 && done < n; k++ {
			reqs = append(reqs, store.AppendRequest{Account: acc.ID, Mailbox: mb.ID, Message: staged[done%len(staged)], Flags: []string{store.FlagSeen}, IgnoreQuota: true})
			done++
		}
		if _, err := ts.st.Append(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCommand(b *testing.B, n int, cmd string) {
	ts := newTestServer(b)
	bulkMailbox(b, ts, n)
	c := ts.login()
	c.ok("SELECT INBOX")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		u := c.ok(cmd)
		if len(u) == 0 {
			b.Fatal("no responses")
		}
	}
}

func BenchmarkUIDFetchSummary(b *testing.B) {
	benchCommand(b, 5000, "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
}

// BenchmarkUIDFetchFlags is the flag scan synchronizing clients without
// CONDSTORE run on every sync: UID FETCH 1:* (UID FLAGS) on 100,000
// messages.
func BenchmarkUIDFetchFlags(b *testing.B) {
	benchCommand(b, 100000, "UID FETCH 1:* (UID FLAGS)")
}

func BenchmarkSearchHeader(b *testing.B) {
	benchCommand(b, 5000, `SEARCH FROM "sender3"`)
}

func BenchmarkSearchFlags(b *testing.B) {
	benchCommand(b, 5000, "SEARCH UNSEEN OR FLAGGED 1:100")
}

func BenchmarkSearchBody(b *testing.B) {
	benchCommand(b, 2000, fmt.Sprintf("SEARCH BODY %q", "body 7"))
}

// BenchmarkIdleConnectionMemory reports the heap each idle connection
// costs (DESIGN.md §4 targets well under 32 KiB), half of them in IDLE.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	ts := newTestServer(b)
	const n = 200
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]*tconn, 0, n)
		for i := 0; i < n; i++ {
			c := ts.dial()
			if i%2 == 1 {
				c.send("i1 LOGIN alice \"" + testPassword + "\"\r\n")
				c.until("i1")
				c.send("i2 SELECT INBOX\r\n")
				c.until("i2")
				c.send("i3 IDLE\r\n")
				c.readLine()
			}
			conns = append(conns, c)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heapB/conn")
		for _, c := range conns {
			c.c.Close()
		}
	}
}

// countingConn counts the octets a client reads.
type countingConn struct {
	net.Conn
	n int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += int64(n)
	return n, err
}

// resyncSetup fills INBOX with n messages, notes the client state, then
// makes 100 changes from another session: 80 flag changes and 20
// expunges.
func resyncSetup(b *testing.B, n int) (ts *testServer, validity uint32, modseq uint64) {
	ts = newTestServer(b)
	bulkMailbox(b, ts, n)
	w := ts.login()
	w.ok("SELECT INBOX")
	validity, modseq = mailboxState(b, w)
	for k := 0; k < 80; k++ {
		w.ok(fmt.Sprintf("UID STORE %d +FLAGS.SILENT (\\Flagged)", 1+k*(n/80)))
	}
	var gone []uint32
	for k := 0; k < 20; k++ {
		gone = append(gone, uint32(2+k*(n/20)))
	}
	set := imapwire.FormatNumSet(gone)
	w.ok("UID STORE " + set + ` +FLAGS.SILENT (\Deleted)`)
	w.ok("UID EXPUNGE " + set)
	w.ok("LOGOUT")
	return ts, validity, modseq
}

// BenchmarkQresyncReselect: a QRESYNC SELECT of a 100,000-message mailbox
// after 100 changes; reports the octets the server sent per select.
func BenchmarkQresyncReselect(b *testing.B) {
	const n = 100000
	ts, validity, modseq := resyncSetup(b, n)
	c := ts.login()
	cc := &countingConn{Conn: c.c}
	c.c, c.r = cc, bufio.NewReader(cc)
	c.ok("ENABLE QRESYNC")
	cmd := fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:%d))", validity, modseq, n)
	var octets int64
	b.ResetTimer()
	for b.Loop() {
		before := cc.n
		u := c.ok(cmd)
		if len(u) < 85 {
			b.Fatalf("short resync: %d lines", len(u))
		}
		octets += cc.n - before
	}
	b.ReportMetric(float64(octets)/float64(b.N), "B/select")
}

// BenchmarkFetchChangedSince: FETCH 1:* (FLAGS) (CHANGEDSINCE m) over
// 100,000 messages of which 80 changed.
func BenchmarkFetchChangedSince(b *testing.B) {
	const n = 100000
	ts, _, modseq := resyncSetup(b, n)
	c := ts.login()
	cc := &countingConn{Conn: c.c}
	c.c, c.r = cc, bufio.NewReader(cc)
	c.ok("SELECT INBOX")
	cmd := fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", modseq)
	var octets int64
	b.ResetTimer()
	for b.Loop() {
		before := cc.n
		u := c.ok(cmd)
		if len(u) < 80 {
			b.Fatalf("short answer: %d lines", len(u))
		}
		octets += cc.n - before
	}
	b.ReportMetric(float64(octets)/float64(b.N), "B/fetch")
}

// BenchmarkStoreAll sets and clears a flag on every message of a
// 10,000-message mailbox (the bench/ STORE workload).
func BenchmarkStoreAll(b *testing.B) {
	ts := newTestServer(b)
	bulkMailbox(b, ts, 10000)
	c := ts.login()
	c.ok("SELECT INBOX")
	ops := []string{"+FLAGS", "-FLAGS"}
	for i := 0; b.Loop(); i++ {
		if u := c.ok("STORE 1:* " + ops[i%2] + ` (\Flagged)`); len(u) != 10000 {
			b.Fatalf("%d untagged responses, want 10000", len(u))
		}
	}
}

// BenchmarkIdleWake: one delivery to a mailbox with 1,000 sessions in
// IDLE, until every client has read its EXISTS. Reports the time per
// woken session (server and clients share the CPUs, as in bench/).
func BenchmarkIdleWake(b *testing.B) {
	ts := newTestServer(b)
	const n = 1000
	ctx := context.Background()
	acc, mb := aliceInbox(b, ts)
	idlers := make([]*tconn, n)
	for i := range idlers {
		c := ts.login()
		c.ok("SELECT INBOX")
		c.send("I IDLE\r\n")
		if l := c.readLine(); !strings.HasPrefix(l, "+") {
			b.Fatalf("IDLE: %q", l)
		}
		idlers[i] = c
	}
	staged, err := ts.st.Stage(ctx, strings.NewReader(testMessage(1)), 0)
	if err != nil {
		b.Fatal(err)
	}
	errs := make(chan error, n)
	b.ReportAllocs()
	for b.Loop() {
		var wg sync.WaitGroup
		for _, c := range idlers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					l, err := c.r.ReadSlice('\n')
					if err != nil {
						errs <- err
						return
					}
					if bytes.HasSuffix(l, []byte(" EXISTS\r\n")) {
						return
					}
				}
			}()
		}
		if _, err := ts.st.Append(ctx, []store.AppendRequest{{Account: acc.ID, Mailbox: mb.ID, Message: staged, IgnoreQuota: true}}); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/session")
}
