package delivery

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
)

// testTimeout bounds every network wait in the tests.
const testTimeout = 30 * time.Second

// testEnv is a real store in a temporary directory with a delivery server
// in front of it.
type testEnv struct {
	t       *testing.T
	dir     string
	st      *sqlite.DB
	srv     *Server
	addr    string // LMTP on 127.0.0.1
	smtp    string // SMTP on 127.0.0.1 ("" unless started)
	serveCh chan error
	nServe  int
	waited  bool
}

func newTestStore(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

// startServer opens a store, creates accounts and serves LMTP (and SMTP
// when withSMTP) on loopback. The server is shut down at cleanup.
func startServer(t *testing.T, opts Options, withSMTP bool, accounts ...string) *testEnv {
	t.Helper()
	st, dir := newTestStore(t)
	for _, a := range accounts {
		if _, err := st.CreateAccount(context.Background(), a); err != nil {
			t.Fatalf("CreateAccount %s: %v", a, err)
		}
	}
	opts.Store = st
	if opts.Hostname == "" {
		opts.Hostname = "mx.test"
	}
	if testing.Verbose() && opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv := New(opts)
	e := &testEnv{t: t, dir: dir, st: st, srv: srv, serveCh: make(chan error, 2)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	go func() { e.serveCh <- srv.ServeLMTP(l) }()
	n := 1
	if withSMTP {
		ls, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.smtp = ls.Addr().String()
		go func() { e.serveCh <- srv.ServeSMTP(ls) }()
		n++
	}
	e.nServe = n
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.waitServe()
	})
	return e
}

// waitServe waits for the Serve calls to return (after Shutdown) and
// checks they returned nil.
func (e *testEnv) waitServe() {
	if e.waited {
		return
	}
	e.waited = true
	for i := 0; i < e.nServe; i++ {
		select {
		case err := <-e.serveCh:
			if err != nil {
				e.t.Errorf("Serve returned %v", err)
			}
		case <-time.After(testTimeout):
			e.t.Errorf("Serve did not return after Shutdown")
			return
		}
	}
}

// account returns an account and its INBOX.
func (e *testEnv) inbox(name string) (store.Account, store.Mailbox) {
	e.t.Helper()
	return inboxOf(e.t, e.st, name)
}

func inboxOf(t testing.TB, st store.Store, name string) (store.Account, store.Mailbox) {
	t.Helper()
	ctx := context.Background()
	acct, err := st.Account(ctx, name)
	if err != nil {
		t.Fatalf("Account %s: %v", name, err)
	}
	mb, err := st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatalf("Mailbox INBOX of %s: %v", name, err)
	}
	return acct, mb
}

// messages returns the stored bytes of every message in a mailbox, in UID
// order, with their UIDs.
func messages(t testing.TB, st store.Store, acct store.AccountID, mb store.MailboxID) ([]store.UID, [][]byte) {
	t.Helper()
	ctx := context.Background()
	refs, err := st.MessageRefs(ctx, acct, mb)
	if err != nil {
		t.Fatalf("MessageRefs: %v", err)
	}
	uids := make([]store.UID, len(refs))
	for i, r := range refs {
		uids[i] = r.UID
	}
	var bodies [][]byte
	err = st.Fetch(ctx, acct, mb, uids, store.FetchOptions{}, func(m *store.Message) error {
		b, err := st.OpenBody(ctx, m.BlobID)
		if err != nil {
			return err
		}
		defer b.Close()
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		bodies = append(bodies, data)
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return uids, bodies
}

// inboxMessages is messages() of an account's INBOX.
func (e *testEnv) inboxMessages(name string) ([]store.UID, [][]byte) {
	e.t.Helper()
	acct, mb := e.inbox(name)
	return messages(e.t, e.st, acct.ID, mb.ID)
}

// blobFiles counts files under the blob directory, temporary ones included.
func blobFiles(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "blobs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking blobs: %v", err)
	}
	return n
}

// waitIdle waits (bounded) until the server tracks no connection.
func (e *testEnv) waitNoConns() {
	e.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for time.Now().Before(deadline) {
		e.srv.mu.Lock()
		n := len(e.srv.conns)
		e.srv.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatal("connections still open")
}

// client is a raw line-level LMTP/SMTP client for transcript tests.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// reply is one (possibly multi-line) server reply.
type reply struct {
	code  int
	lines []string // text after "NNN-" / "NNN "
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.code, strings.Join(r.lines, " | ")) }

func dial(t testing.TB, network, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, testTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetDeadline(time.Now().Add(2 * testTimeout))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	return c
}

// dialGreeted connects and checks the 220 greeting.
func dialGreeted(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, "tcp", addr)
	c.expect(220)
	return c
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) read() reply {
	c.t.Helper()
	var rep reply
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply: %v (so far %v)", err, rep)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 {
			c.t.Fatalf("short reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			c.t.Fatalf("bad reply line %q", line)
		}
		rep.code = code
		rep.lines = append(rep.lines, line[4:])
		if line[3] == ' ' {
			return rep
		}
	}
}

// expect reads one reply and checks its code; with an enhanced code
// ("5.1.1") it checks the text starts with it.
func (c *client) expect(code int, enhanced ...string) reply {
	c.t.Helper()
	rep := c.read()
	if rep.code != code {
		c.t.Fatalf("got reply %v, want %d", rep, code)
	}
	if len(enhanced) > 0 && !strings.HasPrefix(rep.lines[len(rep.lines)-1], enhanced[0]+" ") {
		c.t.Fatalf("got reply %v, want enhanced code %s", rep, enhanced[0])
	}
	return rep
}

// closed reports whether the server closed the connection (bounded wait).
func (c *client) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return
		}
		_ = line // e.g. a 421 before closing
	}
}

// lhlo greets an LMTP server and returns the capability lines.
func (c *client) lhlo() []string {
	c.t.Helper()
	c.send("LHLO client.test")
	return c.expect(250).lines
}

// testMessage is a small message with a distinct Message-ID.
func testMessage(id string, body string) string {
	return "From: Sender <sender@example.net>\r\n" +
		"To: rcpt@example.org\r\n" +
		"Subject: test " + id + "\r\n" +
		"Message-ID: <" + id + "@example.net>\r\n" +
		"\r\n" + body
}

// dotStuff encodes a message for DATA (RFC 5321 §4.5.2) with the ending.
func dotStuff(msg string) string {
	var b strings.Builder
	lines := strings.SplitAfter(msg, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	s := b.String()
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s + ".\r\n"
}

// deliverOne runs a full LMTP transaction on c and returns the DATA
// replies (one per accepted recipient).
func (c *client) deliverOne(from string, rcpts []string, msg string) []reply {
	c.t.Helper()
	c.send("MAIL FROM:<" + from + ">")
	c.expect(250)
	accepted := 0
	for _, r := range rcpts {
		c.send("RCPT TO:<" + r + ">")
		if c.read().code == 250 {
			accepted++
		}
	}
	if accepted == 0 {
		c.send("RSET")
		c.expect(250)
		return nil
	}
	c.send("DATA")
	c.expect(354)
	c.write(dotStuff(msg))
	out := make([]reply, accepted)
	for i := range out {
		out[i] = c.read()
	}
	return out
}

// replyReader reads replies without a testing.T, for client goroutines
// and benchmarks: next returns the code and last line of one reply, or
// code 0 when the connection failed.
type replyReader struct {
	conn net.Conn
	r    *bufio.Reader
}

func newReplyReader(conn net.Conn) *replyReader {
	return &replyReader{conn: conn, r: bufio.NewReader(conn)}
}

func (r *replyReader) next() (int, string) {
	r.conn.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			return 0, "error: " + err.Error()
		}
		if len(line) < 4 {
			return 0, line
		}
		if line[3] == ' ' {
			code, _ := strconv.Atoi(line[:3])
			return code, strings.TrimRight(line, "\r\n")
		}
	}
}
