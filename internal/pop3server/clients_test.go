package pop3server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/textline"
)

// hundredMessages are the messages the client tests fetch: different
// sizes, dot-leading lines, a long line, 8-bit text.
func hundredMessages() [][]byte {
	msgs := make([][]byte, 100)
	for i := range msgs {
		m := testMessage(i, (i*37)%200)
		if i%10 == 0 {
			m = append(m, []byte(strings.Repeat("long ", 300)+"\r\n")...)
		}
		if i%7 == 0 {
			m = append(m, []byte("Grüße aus Köln\r\n")...)
		}
		msgs[i] = m
	}
	return msgs
}

func portOf(t testing.TB, addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func lfOnly(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

const poplibScript = `
import os, poplib, sys
host, port, user, secret, outdir, mode = sys.argv[1:7]
p = poplib.POP3(host, int(port), timeout=60)
caps = p.capa()
assert 'UIDL' in caps and 'TOP' in caps, caps
if mode == 'apop':
    p.apop(user, secret)
else:
    p.user(user)
    p.pass_(secret)
count, size = p.stat()
resp, listing, _ = p.uidl()
uids = [l.split()[1].decode() for l in listing]
total = 0
for i in range(1, count + 1):
    resp, lines, _ = p.top(i, 2)
    assert any(l.startswith(b'Subject:') for l in lines)
    resp, lines, octets = p.retr(i)
    data = b'\r\n'.join(lines) + b'\r\n'
    total += len(data)
    with open(os.path.join(outdir, '%d' % i), 'wb') as f:
        f.write(data)
    assert p.uidl(i).split()[2].decode() == uids[i - 1]
assert total == size, (total, size)
with open(os.path.join(outdir, 'uidl'), 'w') as f:
    f.write('\n'.join(uids))
for i in range(1, count + 1):
    p.dele(i)
print(p.quit().decode())
`

func runPoplib(t *testing.T, e *testEnv, user, secret, mode string, msgs [][]byte) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", poplibScript, "127.0.0.1", portOf(t, e.addr), user, secret, out, mode)
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, res)
	}
	for i, m := range msgs {
		got, err := os.ReadFile(filepath.Join(out, fmt.Sprint(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("message %d differs:\n got %q\nwant %q", i+1, got, m)
		}
	}
	uidl, _ := os.ReadFile(filepath.Join(out, "uidl"))
	if ids := strings.Split(string(uidl), "\n"); len(ids) != len(msgs) || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(msgs) {
		t.Fatalf("UIDLs not unique: %q", uidl)
	}
}

func TestPythonPoplib(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msgs := hundredMessages()
	e.appendTo(e.acct, "INBOX", msgs...)
	runPoplib(t, e, testUser, testPass, "user", msgs)
	if n := len(e.inboxRefs(e.acct)); n != 0 {
		t.Fatalf("%d messages left after DELE and QUIT", n)
	}
}

func TestPythonPoplibAPOP(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	e := newEnv(t, func(c *envConfig) { c.auth.PlainSecretKey = key; c.auth.EnableAPOP = true })
	sec, err := auth.HashPasswordWith("apop secret", auth.HashOptions{PlainSecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetSecrets(context.Background(), e.acct.ID, sec); err != nil {
		t.Fatal(err)
	}
	msgs := hundredMessages()[:20]
	e.appendTo(e.acct, "INBOX", msgs...)
	runPoplib(t, e, testUser, "apop secret", "apop", msgs)
	if n := len(e.inboxRefs(e.acct)); n != 0 {
		t.Fatalf("%d messages left", n)
	}
}

// TestFetchmail retrieves 100 messages with fetchmail through an MDA,
// first with --keep (nothing deleted), then in its default delete mode.
// fetchmail hands the MDA LF line ends ("stripcr" is its default for MDA
// delivery) and, with "set invisible", adds no Received line: each file is
// the stored message with CRLF turned into LF, byte for byte.
func TestFetchmail(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("fetchmail")
	if err != nil {
		t.Skip("fetchmail not installed (apt-get install fetchmail)")
	}
	e := newEnv(t)
	msgs := hundredMessages()
	e.appendTo(e.acct, "INBOX", msgs...)
	for _, keep := range []bool{true, false} {
		home := t.TempDir()
		out := filepath.Join(home, "out")
		os.Mkdir(out, 0o700)
		opt := "no keep"
		if keep {
			opt = "keep"
		}
		rc := fmt.Sprintf(`set no bouncemail
set invisible
poll 127.0.0.1 with proto POP3 service %s auth password timeout 60:
  user "%s" there with password "%s" is "%s" here
  options no rewrite fetchall %s sslproto ''
  mda "cat > %s/msg.$$"
`, portOf(t, e.addr), testUser, testPass, os.Getenv("USER")+"x", opt, out)
		rcPath := filepath.Join(home, "fetchmailrc")
		if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "-f", rcPath, "--nosyslog", "--idfile", filepath.Join(home, "ids"), "--pidfile", filepath.Join(home, "pid"))
		cmd.Env = append(os.Environ(), "HOME="+home, "FETCHMAILHOME="+home)
		res, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("fetchmail (keep=%v): %v\n%s", keep, err, res)
		}
		files, _ := filepath.Glob(filepath.Join(out, "msg.*"))
		if len(files) != len(msgs) {
			t.Fatalf("fetchmail delivered %d files, want %d\n%s", len(files), len(msgs), res)
		}
		want := map[string]bool{}
		for _, m := range msgs {
			want[string(lfOnly(m))] = true
		}
		for _, f := range files {
			got, _ := os.ReadFile(f)
			if !want[string(got)] {
				t.Fatalf("delivered file %s is not a stored message: %q", f, got)
			}
			delete(want, string(got))
		}
		left := len(e.inboxRefs(e.acct))
		if keep && left != len(msgs) || !keep && left != 0 {
			t.Fatalf("keep=%v: %d messages left in the store", keep, left)
		}
	}
}

// TestGetmail retrieves 100 messages with getmail6 and deletes them. getmail
// delivers them over LMTP to a sink in this test (MDA_lmtp): its Maildir
// and MDA destinations fork a child per message and install their SIGCHLD
// handler only after fork() returns, so a child that exits first is never
// reaped and getmail gives up with "waiting child pid N timed out", often
// under parallel load. MDA_lmtp delivers in getmail's own process. With
// delivered_to and received off getmail adds nothing: the sink must get
// every stored message exactly once, byte for byte up to line ends.
func TestGetmail(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("getmail")
	if err != nil {
		t.Skip("getmail not installed (apt-get install getmail6)")
	}
	e := newEnv(t)
	msgs := hundredMessages()
	e.appendTo(e.acct, "INBOX", msgs...)
	sink := startLMTPSink(t)
	dir := t.TempDir()
	rc := fmt.Sprintf(`[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = %s
username = %s
password = %s
timeout = 60

[destination]
type = MDA_lmtp
host = 127.0.0.1
port = %s
override = sink@localhost

[options]
delete = true
read_all = true
delivered_to = false
received = false
verbose = 0
`, portOf(t, e.addr), testUser, testPass, portOf(t, sink.addr))
	if err := os.WriteFile(filepath.Join(dir, "getmailrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--getmaildir", dir, "--rcfile", "getmailrc")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("getmail: %v\n%s", err, res)
	}
	got := sink.messages()
	if len(got) != len(msgs) {
		t.Fatalf("getmail delivered %d messages, want %d\n%s", len(got), len(msgs), res)
	}
	want := map[string]int{} // message (LF line ends) → index in msgs
	for i, m := range msgs {
		want[string(lfOnly(m))] = i
	}
	if len(want) != len(msgs) {
		t.Fatal("test messages are not distinct")
	}
	delivered := make([]bool, len(msgs))
	for n, m := range got {
		i, ok := want[string(lfOnly(m))]
		if !ok {
			t.Fatalf("delivery %d is not a stored message: %q", n+1, m)
		}
		if delivered[i] {
			t.Fatalf("message %d delivered twice", i+1)
		}
		delivered[i] = true
	}
	if n := len(e.inboxRefs(e.acct)); n != 0 {
		t.Fatalf("%d messages left after getmail", n)
	}
}

// lmtpSink is an LMTP server (RFC 2033) on 127.0.0.1 that keeps every
// message it is given, dot-stuffing removed. It takes any MAIL FROM (getmail
// sends "unknown" for a message without Return-Path) and one RCPT per
// transaction.
type lmtpSink struct {
	addr string
	mu   sync.Mutex
	msgs [][]byte
}

func startLMTPSink(t *testing.T) *lmtpSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &lmtpSink{addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sink.serve(c)
			}()
		}
	}()
	return sink
}

func (s *lmtpSink) serve(c net.Conn) {
	c.SetDeadline(time.Now().Add(3 * time.Minute))
	in := textline.NewReader(c, 64<<10, nil)
	say := func(line string) bool {
		_, err := io.WriteString(c, line+"\r\n")
		return err == nil
	}
	say("220 sink.test LMTP")
	for {
		line, err := in.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(string(line)), " ")
		switch verb {
		case "LHLO":
			say("250 sink.test")
		case "MAIL", "RCPT", "RSET", "NOOP":
			say("250 OK")
		case "DATA":
			say("354 Go ahead")
			b, err := io.ReadAll(textline.NewDotReader(in))
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b)
			s.mu.Unlock()
			say("250 Delivered")
		case "QUIT":
			say("221 Bye")
			return
		default:
			say("500 Unknown command")
		}
	}
}

func (s *lmtpSink) messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}
