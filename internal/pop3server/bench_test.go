package pop3server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkPipelinedSession is one session pipelining STAT, UIDL, RETR 1..N,
// DELE 1..N and QUIT for N = 1000 messages of 4 KiB, all sent at once, as
// fetchmail-style clients with PIPELINING do. The store is refilled between
// iterations, outside the timer. msgs/s and MB/s count the whole session
// up to QUIT's +OK (which waits for the durable expunge); retr-msgs/s and
// retr-MB/s the part up to the last RETR.
func BenchmarkPipelinedSession(b *testing.B) {
	const n = 1000
	e := newEnv(b)
	msgs := make([][]byte, n)
	for i := range msgs {
		var m bytes.Buffer
		fmt.Fprintf(&m, "From: a@example.org\r\nSubject: bench %d\r\n\r\n", i)
		for m.Len() < 4096-66 {
			m.WriteString("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n")
		}
		msgs[i] = m.Bytes()
	}
	var cmds strings.Builder
	cmds.WriteString("STAT\r\nUIDL\r\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&cmds, "RETR %d\r\n", i)
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&cmds, "DELE %d\r\n", i)
	}
	cmds.WriteString("QUIT\r\n")
	script := cmds.String()
	var received int64
	var elapsed, retrElapsed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.appendTo(e.acct, "INBOX", msgs...)
		c := e.dial()
		c.login()
		b.StartTimer()
		start := time.Now()
		go c.conn.Write([]byte(script))
		if l := c.line(); !strings.HasPrefix(l, "+OK 1000 ") {
			b.Fatalf("STAT %q", l)
		}
		c.line()
		for {
			if l := c.line(); l == "." {
				break
			}
		}
		for range n {
			if l := c.line(); !strings.HasPrefix(l, "+OK") {
				b.Fatalf("RETR %q", l)
			}
			for {
				l, err := c.in.ReadLine()
				if err != nil {
					b.Fatal(err)
				}
				received += int64(len(l)) + 2
				if len(l) == 1 && l[0] == '.' {
					break
				}
			}
		}
		retrElapsed += time.Since(start)
		for range n {
			c.line()
		}
		if l := c.line(); !strings.HasPrefix(l, "+OK") {
			b.Fatalf("QUIT %q", l)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		c.conn.Close()
		if left := len(e.inboxRefs(e.acct)); left != 0 {
			b.Fatalf("%d left", left)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(received)/1e6/elapsed.Seconds(), "MB/s")
	// The RETR phase alone (the rest is QUIT's durable expunge of N
	// messages in the store).
	b.ReportMetric(float64(n*b.N)/retrElapsed.Seconds(), "retr-msgs/s")
	b.ReportMetric(float64(received)/1e6/retrElapsed.Seconds(), "retr-MB/s")
}

// BenchmarkIdleSessions measures what an idle session costs the process
// (DESIGN.md §4: buffers go back to the pool between commands). It opens
// 500 sessions that have each run CAPA and reports heap plus stack growth
// per session, client side included.
func BenchmarkIdleSessions(b *testing.B) {
	const n = 500
	e := newEnv(b)
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			io.WriteString(c, "CAPA\r\n")
		}
		buf := make([]byte, 4096)
		for _, c := range conns {
			// Greeting and CAPA: read until the final ".".
			got := 0
			for !bytes.HasSuffix(buf[:got], []byte("\r\n.\r\n")) {
				k, err := c.Read(buf[got:])
				if err != nil {
					b.Fatal(err)
				}
				got += k
			}
		}
		time.Sleep(100 * time.Millisecond) // let sessions block in Read
		runtime.GC()
		runtime.ReadMemStats(&after)
		grown := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.ReportMetric(float64(grown)/n, "bytes/session")
		for _, c := range conns {
			c.Close()
		}
	}
}
