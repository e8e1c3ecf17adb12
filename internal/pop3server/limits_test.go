package pop3server

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestClientThatNeverReads pipelines RETR without reading any answer: the
// server must stop reading once its output is stuck (so the client's
// writes block, with a bounded amount accepted), then drop the client at
// the idle timeout and stay usable.
func TestClientThatNeverReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.opts.IdleTimeout = 2 * time.Second })
	big := append(testMessage(1, 0), bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 4096)...)
	e.appendTo(e.acct, "INBOX", big)
	c := e.dial()
	c.login()
	cmds := []byte(strings.Repeat("RETR 1\r\n", 8192)) // 64 KiB of commands, 2 GiB of answers
	sent := 0
	var werr error
	c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for sent < 64<<20 {
		var n int
		n, werr = c.conn.Write(cmds)
		sent += n
		if werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatalf("server accepted %d octets of commands without reading answers", sent)
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) && !strings.Contains(werr.Error(), "reset") && !strings.Contains(werr.Error(), "broken pipe") {
		t.Fatalf("write error %v", werr)
	}
	// The stuck session is dropped and its lock released.
	for range 100 {
		d := e.dial()
		d.expect("USER "+testUser, "+OK")
		if l := d.cmd("PASS " + testPass); strings.HasPrefix(l, "+OK") {
			d.expect("STAT", "+OK 1 ")
			d.expect("QUIT", "+OK")
			return
		}
		d.conn.Close()
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("stuck session never released the maildrop")
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.opts.IdleTimeout = 300 * time.Millisecond })
	c := e.dial()
	c.login()
	if l := c.line(); !strings.HasPrefix(l, "-ERR") {
		t.Fatalf("got %q", l)
	}
	if !c.closed() {
		t.Fatal("idle session not closed")
	}
}
