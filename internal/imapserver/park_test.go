package imapserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// forIdleModes runs an IDLE test with parked sessions (the default where
// the system has a poller) and with a goroutine blocked in Read per
// session.
func forIdleModes(t *testing.T, f func(t *testing.T, mode func(*Options))) {
	t.Run("parked", func(t *testing.T) { t.Parallel(); f(t, func(*Options) {}) })
	t.Run("goroutine", func(t *testing.T) {
		t.Parallel()
		f(t, func(o *Options) { o.idleGoroutines = true })
	})
}

// parkedCount is how many sessions the server's poller watches.
func parkedCount(ts *testServer) int {
	p := ts.srv.poller()
	if p == nil {
		return 0
	}
	return p.count()
}

// waitParked waits until n sessions are parked.
func waitParked(t *testing.T, ts *testServer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for parkedCount(ts) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions parked, want %d", parkedCount(ts), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startIdle(t *testing.T, c *tconn, tag string) {
	t.Helper()
	c.send(tag + " IDLE\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
}

// TestIdleParks: sessions in IDLE hold no goroutine while they wait, still
// get every update, stay parked across updates, and resume on DONE.
func TestIdleParks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the IDLE poller is Linux-only")
	}
	t.Parallel()
	ts := newTestServer(t)
	const n = 40
	writer := ts.login()
	writer.ok("SELECT INBOX")
	idlers := make([]*tconn, n)
	for i := range idlers {
		c := ts.login()
		c.ok("SELECT INBOX")
		startIdle(t, c, "i")
		idlers[i] = c
	}
	waitParked(t, ts, n)
	runtime.GC()
	before := runtime.NumGoroutine()
	for k := 1; k <= 3; k++ {
		writer.appendMsg("INBOX", "", testMessage(k))
		want := fmt.Sprintf("* %d EXISTS", k)
		for i, c := range idlers {
			if l := c.readLine(); l != want {
				t.Fatalf("idler %d: %q, want %q", i, l, want)
			}
			if l := c.readLine(); !strings.HasSuffix(l, " RECENT") {
				t.Fatalf("idler %d: %q, want RECENT", i, l)
			}
		}
	}
	waitParked(t, ts, n)
	// The update goroutines have ended: no goroutine per idler.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the updates, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	writer.ok(`STORE 1 +FLAGS (\Flagged)`)
	for i, c := range idlers {
		if l := c.readLine(); !strings.HasPrefix(l, `* 1 FETCH (FLAGS (\Flagged`) {
			t.Fatalf("idler %d: %q", i, l)
		}
	}
	for i, c := range idlers {
		c.send("DONE\r\n")
		if _, st := c.until("i"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("idler %d DONE: %q", i, st)
		}
	}
	waitParked(t, ts, 0)
	for _, c := range idlers {
		u := c.ok("NOOP")
		if len(u) != 0 {
			t.Fatalf("NOOP after IDLE: %q (updates sent twice?)", u)
		}
	}
}

// TestIdleParksOverTLS: a TLS session parks too, gets its update through
// TLS, and a DONE that arrives with the IDLE in one TLS record is not
// left inside the TLS layer.
func TestIdleParksOverTLS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the IDLE poller is Linux-only")
	}
	t.Parallel()
	ts := newTestServer(t)
	c := dialIMAPS(t, ts)
	c.readLine()
	c.ok(`LOGIN alice "` + testPassword + `"`)
	c.ok("SELECT INBOX")
	startIdle(t, c, "i1")
	waitParked(t, ts, 1)
	w := ts.login()
	w.appendMsg("INBOX", "", testMessage(1))
	if l := c.readLine(); l != "* 1 EXISTS" {
		t.Fatalf("EXISTS over TLS: %q", l)
	}
	c.readLine() // RECENT
	c.send("DONE\r\n")
	if _, st := c.until("i1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("DONE: %q", st)
	}
	// IDLE and DONE in one write (one TLS record), and in two records
	// sent together: the server's TLS layer then often holds the second
	// record, unread, when the session would park.
	for k := 0; k < 40; k++ {
		if k%2 == 0 {
			c.send("p IDLE\r\nDONE\r\n")
		} else {
			c.send("p IDLE\r\n")
			c.send("DONE\r\n")
		}
		if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("pipelined IDLE: %q", l)
		}
		if _, st := c.until("p"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("pipelined DONE: %q", st)
		}
	}
	waitParked(t, ts, 0)
}

// TestIdleParkRace: sessions go in and out of IDLE while other sessions
// append; every idler ends up with the right message count and no update
// is lost or sent twice (run with -race for the locking).
func TestIdleParkRace(t *testing.T) {
	t.Parallel()
	forIdleModes(t, func(t *testing.T, mode func(*Options)) {
		ts := newTestServer(t, mode)
		const idlers, writers, perWriter, cycles = 4, 2, 25, 20
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			c := ts.login()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWriter; i++ {
					c.appendMsg("INBOX", "", testMessage(w*perWriter+i))
				}
			}()
		}
		seen := make([]int, idlers)
		errs := make(chan error, idlers)
		for i := 0; i < idlers; i++ {
			c := ts.login()
			u := c.ok("SELECT INBOX")
			wg.Add(1)
			go func() {
				defer wg.Done()
				count := existsIn(u, 0)
				for k := 0; k < cycles; k++ {
					c.send("i IDLE\r\n")
					var lines []string
					for {
						l := c.readLine()
						if strings.HasPrefix(l, "+ ") {
							break
						}
						lines = append(lines, l)
					}
					time.Sleep(time.Duration(k%3) * time.Millisecond)
					c.send("DONE\r\n")
					more, st := c.until("i")
					if !strings.HasPrefix(st, "OK") {
						errs <- fmt.Errorf("DONE: %q", st)
						return
					}
					count = existsIn(append(lines, more...), count)
				}
				seen[i] = count
			}()
			_ = i
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Whatever the interleaving, a final NOOP brings each session
		// to the full count, and it never saw more than there are.
		const total = writers * perWriter
		for i := range seen {
			if seen[i] > total {
				t.Fatalf("idler %d saw %d EXISTS of %d", i, seen[i], total)
			}
		}
		c := ts.login()
		u := c.ok("SELECT INBOX")
		if got := existsIn(u, 0); got != total {
			t.Fatalf("mailbox holds %d, want %d", got, total)
		}
	})
}

// existsIn returns the last EXISTS count in lines, or count.
func existsIn(lines []string, count int) int {
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "*" && f[2] == "EXISTS" {
			n, err := strconv.Atoi(f[1])
			if err == nil {
				count = n
			}
		}
	}
	return count
}

// TestParkedUpdateFillsTheSocket: a parked session's update larger than
// the socket can take while the client does not read goes out whole and
// in order once the client reads (the direct write hands the rest to the
// ordinary, waiting path), and the session goes on.
func TestParkedUpdateFillsTheSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the IDLE poller is Linux-only")
	}
	t.Parallel()
	ts := newTestServer(t)
	const msgs = 100
	idler, kw := stuckUpdate(t, ts, msgs)
	seq := 0
	for seq < msgs {
		l := idler.readLine()
		if !strings.Contains(l, " FETCH ") {
			continue // FLAGS and PERMANENTFLAGS for the new keywords
		}
		seq++
		if !strings.HasPrefix(l, fmt.Sprintf("* %d FETCH (FLAGS (", seq)) {
			t.Fatalf("FETCH %d: %q", seq, l)
		}
		for _, k := range kw {
			if !strings.Contains(l, k) {
				t.Fatalf("FETCH %d lacks %s: %q", seq, k, l)
			}
		}
	}
	idler.send("DONE\r\n")
	if _, st := idler.until("i"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("DONE: %q", st)
	}
	idler.ok("NOOP")
}

// shrinkSocket gives the idling connection c the kernel's least buffers
// on both ends (its receive buffer here, the server's send buffer), so
// that an update of some 100 KiB stops in the sockets.
func shrinkSocket(t *testing.T, ts *testServer, c *tconn) {
	t.Helper()
	if err := c.c.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	serverSide := 0
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	for sess := range ts.srv.sessions {
		if sess.rawConn.RemoteAddr().String() != c.c.LocalAddr().String() {
			continue
		}
		sc := sess.rawConn
		for {
			w, ok := sc.(interface{ NetConn() net.Conn })
			if !ok {
				break
			}
			sc = w.NetConn()
		}
		if err := sc.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
		serverSide++
	}
	if serverSide != 1 {
		t.Fatalf("found %d server sides of the idling connection", serverSide)
	}
}

// stuckUpdate starts an idling session on an INBOX of msgs messages,
// shrinks its socket (shrinkSocket), and has a second session store 40
// keywords of 32 octets on every message, so that each FETCH line the
// idler is sent is over 1.3 KiB (about 130 KiB for 100 messages); it
// returns once the parked update has filled the socket, with the idling
// client and the keywords.
func stuckUpdate(t *testing.T, ts *testServer, msgs int) (*tconn, []string) {
	t.Helper()
	writer := ts.login()
	writer.ok("SELECT INBOX")
	for i := 1; i <= msgs; i++ {
		writer.appendMsg("INBOX", "", testMessage(i))
	}
	idler := ts.login()
	idler.ok("SELECT INBOX")
	startIdle(t, idler, "i")
	waitParked(t, ts, 1)
	shrinkSocket(t, ts, idler)
	before := ts.srv.parkedWriteWaits.Load()
	var kw []string
	for k := range 40 {
		kw = append(kw, fmt.Sprintf("keyword%02d_%s", k, strings.Repeat("x", 22)))
	}
	writer.ok("STORE 1:* +FLAGS.SILENT (" + strings.Join(kw, " ") + ")")
	deadline := time.Now().Add(10 * time.Second)
	for ts.srv.parkedWriteWaits.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("the update never filled the socket; the test proves nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return idler, kw
}

// TestShutdownStuckParkedUpdate: when Shutdown's grace period ends while
// a parked session's update waits for a client that does not read, the
// forced close ends that write at once (the update writes to the bare
// descriptor under parkMu, so the close must wait for it, and without
// ending the write would wait the whole write timeout) and Shutdown
// returns.
func TestShutdownStuckParkedUpdate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the IDLE poller is Linux-only")
	}
	t.Parallel()
	ts := newTestServer(t)
	idler, _ := stuckUpdate(t, ts, 100)
	// The idler reads nothing more: the update stays stuck in its write.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ts.srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the grace period's end", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Shutdown took %v", took)
	}
	// The connection is closed: the client reads to the end.
	idler.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, idler.c); err != nil {
		t.Fatalf("reading to the end: %v", err)
	}
}
