package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// BenchmarkLMTPDeliver measures end-to-end LMTP delivery over loopback
// into a real store (blob fsync and group commit included): one
// transaction per message, one recipient, pipelined MAIL/RCPT/DATA.
func BenchmarkLMTPDeliver(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		for _, conns := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%dKiB/conns=%d", size>>10, conns), func(b *testing.B) {
				benchLMTP(b, size, conns)
			})
		}
	}
}

func benchLMTP(b *testing.B, size, conns int) {
	st, _ := newTestStore(b)
	ctx := context.Background()
	if _, err := st.CreateAccount(ctx, "ann"); err != nil {
		b.Fatal(err)
	}
	srv := New(Options{Store: st, Hostname: "mx.test"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.ServeLMTP(l)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		srv.Shutdown(ctx)
	})
	line := strings.Repeat("x", 76) + "\r\n"
	body := strings.Repeat(line, size/len(line)+1)

	b.SetBytes(int64(size))
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for k := 0; k < conns; k++ {
		n := b.N / conns
		if k < b.N%conns {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- benchConn(l.Addr().String(), k, n, body)
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchConn delivers n messages on one connection; each has a distinct
// Message-ID so the blobs differ.
func benchConn(addr string, k, n int, body string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := newReplyReader(conn)
	if code, line := r.next(); code != 220 {
		return fmt.Errorf("greeting %q", line)
	}
	fmt.Fprintf(conn, "LHLO bench\r\n")
	if code, line := r.next(); code != 250 {
		return fmt.Errorf("LHLO %q", line)
	}
	for i := 0; i < n; i++ {
		msg := dotStuff(testMessage(fmt.Sprintf("b%d-%d", k, i), body))
		if _, err := fmt.Fprintf(conn, "MAIL FROM:<b@example.net>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n"); err != nil {
			return err
		}
		for _, want := range []int{250, 250, 354} {
			if code, line := r.next(); code != want {
				return fmt.Errorf("got %q, want %d", line, want)
			}
		}
		if _, err := conn.Write([]byte(msg)); err != nil {
			return err
		}
		if code, line := r.next(); code != 250 {
			return fmt.Errorf("DATA got %q", line)
		}
	}
	fmt.Fprintf(conn, "QUIT\r\n")
	return nil
}
