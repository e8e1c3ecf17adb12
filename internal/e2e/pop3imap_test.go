package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// rawPOP3 is a POP3 connection driven line by line, for tests that need
// the exact octets on the wire.
type rawPOP3 struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialPOP3 connects and logs in with USER/PASS.
func dialPOP3(t *testing.T, addr, user, password string) *rawPOP3 {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("POP3 dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	p := &rawPOP3{t: t, conn: conn, r: bufio.NewReader(conn)}
	p.ok("greeting")
	p.cmd("USER " + user)
	p.cmd("PASS " + password)
	return p
}

// line reads one line without its CRLF.
func (p *rawPOP3) line() string {
	p.t.Helper()
	l, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatalf("POP3 read: %v", err)
	}
	if !strings.HasSuffix(l, "\r\n") {
		p.t.Fatalf("POP3 line %q does not end with CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// ok reads a line that must be +OK.
func (p *rawPOP3) ok(what string) string {
	p.t.Helper()
	l := p.line()
	if !strings.HasPrefix(l, "+OK") {
		p.t.Fatalf("POP3 %s: %q", what, l)
	}
	return l
}

// cmd sends a command and returns its +OK line.
func (p *rawPOP3) cmd(c string) string {
	p.t.Helper()
	if _, err := fmt.Fprintf(p.conn, "%s\r\n", c); err != nil {
		p.t.Fatalf("POP3 %s: %v", c, err)
	}
	return p.ok(c)
}

// block reads a multi-line response body: the octets before dot-stuffing,
// every line with its CRLF.
func (p *rawPOP3) block() []byte {
	p.t.Helper()
	var b bytes.Buffer
	for {
		l := p.line()
		if l == "." {
			return b.Bytes()
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteString("\r\n")
	}
}

// TestPOP3ExactSizesAfterIMAPAppend: messages an IMAP client APPENDs
// without a final line end, or with bare-LF lines, have POP3 LIST and
// STAT sizes equal to the octets RETR sends (before dot-stuffing).
func TestPOP3ExactSizesAfterIMAPAppend(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	addUser(t, data, "sizes", "sizes-pw")
	srv := startServer(t, data, false)
	appended := [][]byte{
		[]byte("Subject: no final CRLF\r\nMessage-ID: <a@e2e.test>\r\n\r\nlast line without an end"),
		[]byte("Subject: bare LF\nMessage-ID: <b@e2e.test>\n\nline one\n.dot line\nlast line without an end"),
		[]byte("Subject: plain\r\nMessage-ID: <c@e2e.test>\r\n\r\nbody\r\n"),
	}
	c := dialIMAP(t, srv.imap, "sizes", "sizes-pw", nil)
	for _, m := range appended {
		ap := c.Append("INBOX", int64(len(m)), &imap.AppendOptions{})
		if _, err := ap.Write(m); err != nil {
			t.Fatalf("APPEND write: %v", err)
		}
		if err := ap.Close(); err != nil {
			t.Fatalf("APPEND close: %v", err)
		}
		if _, err := ap.Wait(); err != nil {
			t.Fatalf("APPEND: %v", err)
		}
	}
	stored := fetchStored(t, c, "INBOX", true)
	c.Logout().Wait()
	if len(stored) != len(appended) {
		t.Fatalf("INBOX holds %d messages, want %d", len(stored), len(appended))
	}
	// What RETR must send: the stored message (CRLF line ends) with the
	// last line ended.
	var want [][]byte
	total := 0
	for i, s := range stored {
		if i < 2 && (bytes.HasSuffix(s.body, []byte("\r\n")) || bytes.Contains(s.body, []byte("\n\n"))) {
			t.Fatalf("message %d stored as %q: the test needs it unterminated and CRLF-normalized", i+1, s.body)
		}
		w := s.body
		if !bytes.HasSuffix(w, []byte("\r\n")) {
			w = append(bytes.Clone(w), '\r', '\n')
		}
		want = append(want, w)
		total += len(w)
	}

	p := dialPOP3(t, srv.pop3, "sizes", "sizes-pw")
	if got := p.cmd("STAT"); got != fmt.Sprintf("+OK %d %d", len(want), total) {
		t.Errorf("STAT %q, want %d messages of %d octets", got, len(want), total)
	}
	p.cmd("LIST")
	list := strings.Split(strings.TrimSuffix(string(p.block()), "\r\n"), "\r\n")
	for i, w := range want {
		n := i + 1
		if l := fmt.Sprintf("%d %d", n, len(w)); i >= len(list) || list[i] != l {
			t.Errorf("LIST line %d: %q, want %q", n, list, l)
		}
		if got := p.cmd("RETR " + strconv.Itoa(n)); got != fmt.Sprintf("+OK %d octets", len(w)) {
			t.Errorf("RETR %d: %q, want %d octets", n, got, len(w))
		}
		if got := p.block(); !bytes.Equal(got, w) {
			t.Errorf("RETR %d sent %d octets %q, want %d %q", n, len(got), got, len(w), w)
		}
	}
	p.cmd("QUIT")
	srv.stop()
	mustCheck(t, data)
}
