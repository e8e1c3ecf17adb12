package imapserver

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
)

// bulkMailbox fills alice's INBOX with n messages straight through the
// store (one Stage per distinct body, Append in batches).
func bulkMailbox(b testing.TB, ts *testServer, n int) {
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
