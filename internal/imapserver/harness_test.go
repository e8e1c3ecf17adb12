package imapserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
)

const testPassword = "secret pass"

// The password hash is slow on purpose; tests compute it once.
var (
	hashOnce      sync.Once
	hashedSecrets map[string]string
	hashErr       error
)

// testServer is a real server on 127.0.0.1 over a real store.
type testServer struct {
	t    testing.TB
	srv  *Server
	st   store.Store
	addr string
	// stop shuts the server down and closes the store (once).
	stop func()
}

func newTestServer(t testing.TB, tweak ...func(*Options)) *testServer {
	t.Helper()
	return newTestServerAt(t, t.TempDir(), tweak...)
}

// newTestServerAt runs a server over the store in dir, creating alice and
// bob unless they exist (a restart over the same directory).
func newTestServerAt(t testing.TB, dir string, tweak ...func(*Options)) *testServer {
	t.Helper()
	return newTestServerStore(t, dir, sqlite.Options{}, tweak...)
}

// newTestServerStore is newTestServerAt with the store opened with sopts
// (a test clock, a short tombstone retention); the logger defaults to
// discarding.
func newTestServerStore(t testing.TB, dir string, sopts sqlite.Options, tweak ...func(*Options)) *testServer {
	t.Helper()
	ctx := context.Background()
	if sopts.Logger == nil {
		sopts.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := sqlite.Open(ctx, dir, sopts)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, st: st}
	for _, u := range []string{"alice", "bob"} {
		if _, err := st.Account(ctx, u); err != nil {
			ts.addUser(u)
		}
	}
	opts := Options{
		Store:    st,
		Auth:     auth.New(store.CredentialSource{Store: st, UnknownUser: auth.ErrUnknownUser}, auth.Config{}),
		Hostname: "test.example",
		Logger:   slog.New(slog.DiscardHandler),
	}
	for _, f := range tweak {
		f(&opts)
	}
	ts.srv = New(opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(l) }()
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ts.srv.Shutdown(sctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			st.Close()
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) addUser(name string) store.Account {
	ctx := context.Background()
	acc, err := ts.st.CreateAccount(ctx, name)
	if err != nil {
		ts.t.Fatal(err)
	}
	hashOnce.Do(func() { hashedSecrets, hashErr = auth.HashPassword(testPassword) })
	if hashErr != nil {
		ts.t.Fatal(hashErr)
	}
	if err := ts.st.SetSecrets(ctx, acc.ID, hashedSecrets); err != nil {
		ts.t.Fatal(err)
	}
	return acc
}

// tconn is a raw client connection speaking IMAP line by line.
type tconn struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	n    int
	last []string // untagged lines of the last command
}

func (ts *testServer) dial() *tconn {
	ts.t.Helper()
	c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		ts.t.Fatal(err)
	}
	tc := &tconn{t: ts.t, c: c, r: bufio.NewReader(c)}
	ts.t.Cleanup(func() { c.Close() })
	greeting := tc.readLine()
	if !strings.HasPrefix(greeting, "* OK ") {
		ts.t.Fatalf("greeting %q", greeting)
	}
	return tc
}

// login dials and logs in as alice.
func (ts *testServer) login(user ...string) *tconn {
	tc := ts.dial()
	u := "alice"
	if len(user) > 0 {
		u = user[0]
	}
	tc.ok(fmt.Sprintf(`LOGIN %s "%s"`, u, testPassword))
	return tc
}

var literalRe = regexp.MustCompile(`~?\{(\d+)\}$`)

// readLine reads one response line, with any literals inlined.
func (tc *tconn) readLine() string {
	tc.t.Helper()
	tc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sb strings.Builder
	for {
		line, err := tc.r.ReadString('\n')
		if err != nil {
			tc.t.Fatalf("read: %v (so far %q)", err, sb.String()+line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		sb.WriteString(line)
		var m []string
		if strings.HasSuffix(line, "}") {
			m = literalRe.FindStringSubmatch(line)
		}
		if m == nil {
			return sb.String()
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(tc.r, buf); err != nil {
			tc.t.Fatalf("read literal: %v", err)
		}
		sb.WriteString("\r\n")
		sb.Write(buf)
	}
}

func (tc *tconn) send(s string) {
	tc.t.Helper()
	tc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(tc.c, s); err != nil {
		tc.t.Fatalf("write: %v", err)
	}
}

// cmd sends a tagged command and returns the untagged lines and the tagged
// status line without the tag.
func (tc *tconn) cmd(line string) ([]string, string) {
	tc.t.Helper()
	tc.n++
	tag := fmt.Sprintf("t%d", tc.n)
	tc.send(tag + " " + line + "\r\n")
	return tc.until(tag)
}

// until reads responses until the tagged one.
func (tc *tconn) until(tag string) ([]string, string) {
	tc.t.Helper()
	var untagged []string
	for {
		l := tc.readLine()
		if strings.HasPrefix(l, tag+" ") {
			tc.last = untagged
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

func (tc *tconn) expect(status string, line string) []string {
	tc.t.Helper()
	u, st := tc.cmd(line)
	if !strings.HasPrefix(st, status) {
		tc.t.Fatalf("%s: want %s, got %q (untagged %q)", line, status, st, u)
	}
	return u
}

func (tc *tconn) ok(line string) []string {
	tc.t.Helper()
	return tc.expect("OK", line)
}

func (tc *tconn) no(line string) []string {
	tc.t.Helper()
	return tc.expect("NO", line)
}

func (tc *tconn) bad(line string) []string {
	tc.t.Helper()
	return tc.expect("BAD", line)
}

// has fails unless some line contains want.
func has(t testing.TB, lines []string, want string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, want) {
			return
		}
	}
	t.Fatalf("no line contains %q in %q", want, lines)
}

// hasNot fails if some line contains s.
func hasNot(t testing.TB, lines []string, s string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, s) {
			t.Fatalf("line %q contains %q", l, s)
		}
	}
}

// appendMsg appends a message with a synchronizing literal.
func (tc *tconn) appendMsg(mailbox, flags, msg string) string {
	tc.t.Helper()
	tc.n++
	tag := fmt.Sprintf("t%d", tc.n)
	if flags != "" {
		flags = " (" + flags + ")"
	}
	tc.send(fmt.Sprintf("%s APPEND %s%s {%d}\r\n", tag, mailbox, flags, len(msg)))
	if l := tc.readLine(); !strings.HasPrefix(l, "+ ") {
		tc.t.Fatalf("APPEND: want continuation, got %q", l)
	}
	tc.send(msg + "\r\n")
	_, st := tc.until(tag)
	if !strings.HasPrefix(st, "OK") {
		tc.t.Fatalf("APPEND failed: %q", st)
	}
	return st
}

func testMessage(i int) string {
	return fmt.Sprintf("From: Sender %d <sender%d@example.com>\r\nTo: alice@example.com\r\nSubject: test message %d\r\nDate: Mon, 7 Feb 2024 21:52:25 -0800\r\nMessage-ID: <m%d@example.com>\r\n\r\nHello body %d\r\n", i, i, i, i, i)
}

const multipartMessage = "From: Fred <fred@example.com>\r\n" +
	"To: alice@example.com\r\n" +
	"Subject: with attachment\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"See the attachment.\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream; name=\"a.bin\"\r\n" +
	"Content-Disposition: attachment; filename=\"a.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwQFBgc=\r\n" +
	"--XX--\r\n"
