package server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

// acceptLoop accepts on l and hands connections to the test.
func acceptLoop(t *testing.T, l net.Listener) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(ch)
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return ch
}

func nextConn(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads what the server sends until it closes the connection.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until close: %v", err)
	}
	return string(b)
}

func TestLimiterPerIP(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := NewLimiter(2, 0)
	ch := acceptLoop(t, lim.Listen(inner, rejectIMAP))
	addr := inner.Addr().String()

	dialTCP(t, addr)
	s1 := nextConn(t, ch)
	dialTCP(t, addr)
	s2 := nextConn(t, ch)
	if lim.Open() != 2 {
		t.Fatalf("open = %d", lim.Open())
	}

	// The third connection from the same address is told why and closed.
	c3 := dialTCP(t, addr)
	if got := readAll(t, c3); got != rejectIMAP {
		t.Fatalf("rejected client read %q", got)
	}

	// Closing one (twice: the slot is released once) frees a slot.
	s1.Close()
	s1.Close()
	if lim.Open() != 1 {
		t.Fatalf("open after close = %d", lim.Open())
	}
	c4 := dialTCP(t, addr)
	s4 := nextConn(t, ch)
	if _, err := s4.Write([]byte("* OK hello\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c4).ReadString('\n')
	if err != nil || line != "* OK hello\r\n" {
		t.Fatalf("admitted client read %q, %v", line, err)
	}
	s2.Close()
	s4.Close()
	if lim.Open() != 0 {
		t.Fatalf("open at end = %d", lim.Open())
	}
}

func TestLimiterTotalSharedAcrossListeners(t *testing.T) {
	lim := NewLimiter(0, 1)
	in1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in2, err := net.Listen("unix", filepath.Join(t.TempDir(), "lmtp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ch1 := acceptLoop(t, lim.Listen(in1, rejectPOP3))
	ch2 := acceptLoop(t, lim.Listen(in2, rejectLMTP))

	dialTCP(t, in1.Addr().String())
	s1 := nextConn(t, ch1)

	// The unix socket shares the total cap.
	u, err := net.DialTimeout("unix", in2.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if got := readAll(t, u); got != rejectLMTP {
		t.Fatalf("unix client read %q", got)
	}
	s1.Close()
	u2, err := net.DialTimeout("unix", in2.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	s2 := nextConn(t, ch2)
	if lim.Open() != 1 {
		t.Fatalf("open = %d", lim.Open())
	}
	s2.Close()
}

func TestLimiterNoRejectMessageJustCloses(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := NewLimiter(1, 0)
	ch := acceptLoop(t, lim.Listen(inner, ""))
	dialTCP(t, inner.Addr().String())
	nextConn(t, ch)
	c := dialTCP(t, inner.Addr().String())
	if got := readAll(t, c); got != "" {
		t.Fatalf("read %q from a silently refused connection", got)
	}
}

func TestTLSListenerHandshakeTimeout(t *testing.T) {
	dir := t.TempDir()
	certs, err := NewCertificates(config.TLS{}, dir, "", discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := TLSListener(inner, certs.TLSConfig("1.2"), 200*time.Millisecond)
	ch := acceptLoop(t, ln)
	addr := inner.Addr().String()

	// A client that never says hello: Accept still returns (it does not
	// handshake), and the session's first read fails once the timer ends
	// the handshake.
	dialTCP(t, addr)
	s := nextConn(t, ch)
	if _, ok := s.(*tls.Conn); !ok {
		t.Fatalf("Accept returned %T, want *tls.Conn", s)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		readErr <- err
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("read on a stalled handshake succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stalled handshake was never ended")
	}

	// A client that handshakes keeps a working connection after the
	// handshake timeout has passed: no deadline is left behind.
	// The session goroutine runs first, as a protocol server's would.
	go func() {
		s2, ok := <-ch
		if !ok {
			return
		}
		defer s2.Close()
		line, err := bufio.NewReader(s2).ReadString('\n')
		if err == nil {
			s2.Write([]byte(strings.ToUpper(line)))
		}
	}()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // past the handshake timeout
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "PING\n" {
		t.Fatalf("after the timeout: %q, %v", line, err)
	}
}

func TestRemoteIP(t *testing.T) {
	if a := remoteIP(&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 5}); a.String() != "10.1.2.3" {
		t.Fatalf("mapped address %v", a)
	}
	if a := remoteIP(&net.UnixAddr{Name: "@", Net: "unix"}); a.IsValid() {
		t.Fatalf("unix address gave %v", a)
	}
	if a := remoteIP(nil); a.IsValid() {
		t.Fatal("nil address valid")
	}
}

func TestListenUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lmtp")
	// A stale socket file (its process died) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	ln, err := listen("unix:"+path, true)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	defer ln.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	// A socket in use by a live listener is left alone.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := listen(path, true); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("over a live socket: %v", err)
	}
	// Unix sockets are for LMTP only.
	if l, err := listen(path+"2", false); err == nil {
		l.Close()
		t.Fatal("a unix path was accepted for a TCP listener")
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":               "192.0.2.7",
		"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::",
		"2001:db8:1:2:bbbb::ffff": "2001:db8:1:2::",
		"::1":                     "::1",
	} {
		if got := limitKey(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("limitKey(%s) = %s, want %s", in, got, want)
		}
	}
	lim := NewLimiter(1, 0)
	a := limitKey(netip.MustParseAddr("2001:db8::1"))
	b := limitKey(netip.MustParseAddr("2001:db8::2"))
	if !lim.acquire(a) || lim.acquire(b) {
		t.Fatal("two addresses of one /64 got two slots")
	}
}
