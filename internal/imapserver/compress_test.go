package imapserver

import (
	"bufio"
	"compress/flate"
	"io"
	"net"
	"strings"
	"testing"
)

// flateConn is the client side of COMPRESS=DEFLATE over a connection.
type flateConn struct {
	net.Conn
	r  io.Reader
	fw *flate.Writer
}

func (f *flateConn) Read(p []byte) (int, error) { return f.r.Read(p) }

func (f *flateConn) Write(p []byte) (int, error) {
	n, err := f.fw.Write(p)
	if err == nil {
		err = f.fw.Flush()
	}
	return n, err
}

func TestCompressDeflate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 3)
	other := ts.login()
	other.ok("SELECT INBOX")
	_, st := c.cmd("COMPRESS DEFLATE")
	if st != "OK DEFLATE active" {
		t.Fatalf("compress: %q", st)
	}
	fw, _ := flate.NewWriter(c.c, flate.DefaultCompression)
	fc := &flateConn{Conn: c.c, r: flate.NewReader(c.r), fw: fw}
	c.c, c.r = fc, bufio.NewReader(fc)
	u := c.ok("FETCH 1:* (FLAGS BODY.PEEK[])")
	has(t, u, "Hello body 3")
	_, st = c.cmd("COMPRESS DEFLATE")
	if !strings.HasPrefix(st, "NO [COMPRESSIONACTIVE]") {
		t.Fatalf("second compress: %q", st)
	}
	// IDLE over the compressed stream.
	c.send("i1 IDLE\r\n")
	c.readLine()
	other.appendMsg("INBOX", "", testMessage(4))
	if l := c.readLine(); l != "* 4 EXISTS" {
		t.Fatalf("idle: %q", l)
	}
	c.send("DONE\r\n")
	if _, st := c.until("i1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("idle end: %q", st)
	}
	for i := 0; i < 3; i++ {
		c.ok("NOOP")
	}
	c.ok("LOGOUT")
}
