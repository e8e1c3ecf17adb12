package delivery

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// Shutdown closes idle connections at once, lets a DATA in progress finish
// with its 250, refuses new transactions and then returns nil.
func TestShutdownLetsDeliveryFinish(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, true, "ann")
	idle := dialGreeted(t, e.addr)
	idle.lhlo()
	idleSMTP := dialGreeted(t, e.smtp) // never greeted: still closed

	busy := dialGreeted(t, e.addr)
	busy.lhlo()
	busy.send("MAIL FROM:<s@example.net>", "RCPT TO:<ann@example.org>", "DATA")
	busy.expect(250)
	busy.expect(250)
	busy.expect(354)
	msg := testMessage("inflight", strings.Repeat("first half\r\n", 100)+strings.Repeat("second half\r\n", 100))
	half := len(msg) / 2
	busy.write(msg[:half])

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	idle.expectClosed()
	idleSMTP.expectClosed()
	e.waitServe() // listeners are closed: Serve returned nil

	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
	// The body completes and is acknowledged; a new MAIL is refused.
	busy.write(dotStuff(msg)[half:] + "MAIL FROM:<s@example.net>\r\n")
	busy.expect(250, "2.0.0")
	busy.conn.SetReadDeadline(time.Now().Add(testTimeout))
	if line, err := busy.r.ReadString('\n'); err == nil && !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("MAIL during shutdown got %q, want 421 or close", line)
	}
	busy.expectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_, bodies := e.inboxMessages("ann")
	if len(bodies) != 1 || !strings.HasSuffix(string(bodies[0]), msg) {
		t.Fatalf("in-flight message not stored whole: %d messages", len(bodies))
	}
	// Serving after Shutdown returns at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.ServeLMTP(l); err != nil {
		t.Fatalf("ServeLMTP after Shutdown: %v", err)
	}
}

// When Shutdown's context ends before a client finishes DATA, the
// connection is cut and nothing of the message is kept.
func TestShutdownDeadlineAbortsDelivery(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann", "bob")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("MAIL FROM:<s@example.net>", "RCPT TO:<ann@example.org>", "RCPT TO:<bob@example.org>", "DATA")
	c.expect(250)
	c.expect(250)
	c.expect(250)
	c.expect(354)
	c.write(testMessage("cut", strings.Repeat("never finished\r\n", 1000)))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	c.expectClosed()
	e.waitNoConns()
	for _, a := range []string{"ann", "bob"} {
		if uids, _ := e.inboxMessages(a); len(uids) != 0 {
			t.Errorf("%s has %d messages after an aborted DATA", a, len(uids))
		}
	}
	if n := blobFiles(t, e.dir); n != 0 {
		t.Errorf("aborted DATA left %d blob files", n)
	}
}
