package netserve

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// flakyListener fails its first Accepts with a temporary error, then
// hands out one real connection, then fails for good.
type flakyListener struct {
	net.Listener
	temporary int
	calls     atomic.Int32
}

type tempErr struct{}

func (tempErr) Error() string   { return "temporary" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

func (f *flakyListener) Accept() (net.Conn, error) {
	n := int(f.calls.Add(1))
	switch {
	case n <= f.temporary:
		return nil, tempErr{}
	case n == f.temporary+1:
		return f.Listener.Accept()
	}
	return nil, errors.New("permanent")
}

func TestAcceptRetriesTemporaryErrors(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	go func() {
		if c, err := net.DialTimeout("tcp", inner.Addr().String(), 5*time.Second); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	l := &flakyListener{Listener: inner, temporary: 3}
	var retries, handled int
	err = Accept(l, func() bool { return false },
		func(error, time.Duration) { retries++ },
		func(c net.Conn) { handled++; c.Close() })
	if err == nil || err.Error() != "permanent" {
		t.Fatalf("Accept returned %v, want the permanent error", err)
	}
	if retries != 3 || handled != 1 {
		t.Fatalf("retries %d, handled %d; want 3 and 1", retries, handled)
	}
}

func TestAcceptStopsOnClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Accept(l, func() bool { return false }, nil, func(c net.Conn) { c.Close() }) }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Accept after Close: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}
