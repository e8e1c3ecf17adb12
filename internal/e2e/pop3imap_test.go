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

// rawIMAP is an IMAP connection driven line by line (no literals in what
// these tests read back).
type rawIMAP struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

func dialRawIMAP(t *testing.T, addr, user, password string) *rawIMAP {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("IMAP dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawIMAP{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if l, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("IMAP greeting %q: %v", l, err)
	}
	c.do(fmt.Sprintf("LOGIN %q %q", user, password))
	return c
}

func (c *rawIMAP) send(line string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", line); err != nil {
		c.t.Fatalf("IMAP send %q: %v", line, err)
	}
}

// readLine reads one line within d; ok is false on timeout.
func (c *rawIMAP) readLine(d time.Duration) (line string, ok bool) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	l, err := c.r.ReadString('\n')
	if ne, isNet := err.(net.Error); isNet && ne.Timeout() && l == "" {
		return "", false
	}
	if err != nil {
		c.t.Fatalf("IMAP read: %v (partial %q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n"), true
}

// do runs a command and returns its untagged responses; the tagged answer
// must be OK.
func (c *rawIMAP) do(cmd string) []string {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("a%d", c.tag)
	c.send(tag + " " + cmd)
	var untagged []string
	for {
		l, ok := c.readLine(30 * time.Second)
		if !ok {
			c.t.Fatalf("IMAP %s: no answer in 30 s", cmd)
		}
		if rest, found := strings.CutPrefix(l, tag+" "); found {
			if !strings.HasPrefix(rest, "OK") {
				c.t.Fatalf("IMAP %s: %q", cmd, l)
			}
			return untagged
		}
		untagged = append(untagged, l)
	}
}

// expunges returns the sequence numbers of "* n EXPUNGE" lines.
func expunges(lines []string) []int {
	var out []int
	for _, l := range lines {
		var n int
		if _, err := fmt.Sscanf(l, "* %d EXPUNGE", &n); err == nil && strings.HasSuffix(l, " EXPUNGE") {
			out = append(out, n)
		}
	}
	return out
}

// applyExpunges removes the messages that EXPUNGE responses name, one by
// one as IMAP numbers them (RFC 9051 §7.5.1), and returns what was removed.
func applyExpunges(t *testing.T, uids []string, seqs []int) (left, removed []string) {
	left = append([]string(nil), uids...)
	for _, n := range seqs {
		if n < 1 || n > len(left) {
			t.Fatalf("EXPUNGE %d with %d messages", n, len(left))
		}
		removed = append(removed, left[n-1])
		left = append(left[:n-1], left[n:]...)
	}
	return left, removed
}

// TestPOP3DeletionsReachIMAPSessions: while one IMAP session has INBOX
// selected and is in IDLE and another polls with NOOP, a POP3 session
// RETRs, DELEs two messages and QUITs. Before QUIT neither IMAP session
// hears anything; after QUIT both get "* n EXPUNGE" for exactly the two
// deleted messages, and the idler keeps the other three.
func TestPOP3DeletionsReachIMAPSessions(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	addUser(t, data, "both", "both-pw")
	srv := startServer(t, data, false)
	var msgs [][]byte
	for i := range 5 {
		msgs = append(msgs, makeMessage(fmt.Sprintf("both-%d", i), i))
	}
	deliverAll(t, srv.lmtp, "both@localhost", msgs)

	idler := dialRawIMAP(t, srv.imap, "both", "both-pw")
	idler.do("SELECT INBOX")
	var uids []string
	for _, l := range idler.do("FETCH 1:* (UID)") {
		var n, uid int
		if _, err := fmt.Sscanf(l, "* %d FETCH (UID %d)", &n, &uid); err != nil || n != len(uids)+1 {
			t.Fatalf("FETCH line %q", l)
		}
		uids = append(uids, strconv.Itoa(uid))
	}
	if len(uids) != 5 {
		t.Fatalf("INBOX has %d messages, want 5", len(uids))
	}
	idler.send("i IDLE")
	if l, _ := idler.readLine(30 * time.Second); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	poller := dialRawIMAP(t, srv.imap, "both", "both-pw")
	poller.do("SELECT INBOX")

	p := dialPOP3(t, srv.pop3, "both", "both-pw")
	p.cmd("RETR 2")
	p.block()
	p.cmd("DELE 1")
	p.cmd("DELE 3")
	p.cmd("NOOP")
	if l, ok := idler.readLine(1500 * time.Millisecond); ok {
		t.Fatalf("IDLE session got %q before the POP3 QUIT", l)
	}
	if got := poller.do("NOOP"); len(got) != 0 {
		t.Fatalf("NOOP before the POP3 QUIT got %q", got)
	}

	if got := p.cmd("QUIT"); !strings.Contains(got, "3 messages left") {
		t.Fatalf("QUIT: %q", got)
	}
	// The idler: two EXPUNGEs (and \Seen for message 2 as a FETCH),
	// nothing else.
	var idleLines []string
	deadline := time.Now().Add(20 * time.Second)
	for len(expunges(idleLines)) < 2 && time.Now().Before(deadline) {
		if l, ok := idler.readLine(time.Until(deadline)); ok {
			idleLines = append(idleLines, l)
		}
	}
	// Anything else still on the way ends up before DONE's answer.
	idler.send("DONE")
	for {
		l, ok := idler.readLine(30 * time.Second)
		if !ok {
			t.Fatal("no answer to DONE")
		}
		if strings.HasPrefix(l, "i ") {
			if !strings.HasPrefix(l, "i OK") {
				t.Fatalf("IDLE ended with %q", l)
			}
			break
		}
		idleLines = append(idleLines, l)
	}
	t.Logf("IDLE session after QUIT: %q", idleLines)
	left, removed := applyExpunges(t, uids, expunges(idleLines))
	if strings.Join(removed, ",") != uids[0]+","+uids[2] && strings.Join(removed, ",") != uids[2]+","+uids[0] {
		t.Fatalf("IDLE session: expunged UIDs %v of %v, want %s and %s; lines %q", removed, uids, uids[0], uids[2], idleLines)
	}
	for _, l := range idleLines {
		if !strings.HasSuffix(l, " EXPUNGE") && !strings.Contains(l, " FETCH (") {
			t.Errorf("IDLE session got %q", l)
		}
	}
	// Its view now holds the other three, the retrieved one \Seen.
	var now []string
	for _, l := range idler.do("FETCH 1:* (UID FLAGS)") {
		var n, uid int
		if _, err := fmt.Sscanf(l, "* %d FETCH (UID %d", &n, &uid); err != nil {
			t.Fatalf("FETCH line %q", l)
		}
		now = append(now, strconv.Itoa(uid))
		if (uid == mustAtoi(t, uids[1])) != strings.Contains(l, `\Seen`) {
			t.Errorf("after QUIT: %q (message 2 was retrieved)", l)
		}
	}
	if strings.Join(now, ",") != strings.Join(left, ",") {
		t.Fatalf("IDLE session sees UIDs %v after the expunges, want %v", now, left)
	}

	// The poller gets the same expunges at its next NOOP.
	got := poller.do("NOOP")
	if _, removed := applyExpunges(t, uids, expunges(got)); len(removed) != 2 || !(removed[0] == uids[0] && removed[1] == uids[2] || removed[0] == uids[2] && removed[1] == uids[0]) {
		t.Fatalf("NOOP after the POP3 QUIT: %q", got)
	}
	srv.stop()
	mustCheck(t, data)
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
