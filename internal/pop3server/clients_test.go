package pop3server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
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

// TestGetmail retrieves 100 messages with getmail6 into a Maildir and
// deletes them. With delivered_to and received off getmail adds only a
// Return-Path line; the rest of each file is the stored message with LF
// line ends.
func TestGetmail(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("getmail")
	if err != nil {
		t.Skip("getmail not installed (apt-get install getmail6)")
	}
	e := newEnv(t)
	msgs := hundredMessages()
	e.appendTo(e.acct, "INBOX", msgs...)
	dir := t.TempDir()
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	asUser := ""
	if os.Geteuid() == 0 {
		// getmail refuses to deliver as root: deliver as nobody into
		// a Maildir that nobody may write.
		asUser = "user = nobody\n"
		os.Chmod(filepath.Dir(dir), 0o755)
		os.Chmod(dir, 0o755)
		for _, p := range []string{"", "cur", "new", "tmp"} {
			os.Chmod(filepath.Join(md, p), 0o777)
		}
	}
	rc := fmt.Sprintf(`[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = %s
username = %s
password = %s
timeout = 60

[destination]
type = Maildir
path = %s/
%s
[options]
delete = true
read_all = true
delivered_to = false
received = false
verbose = 0
`, portOf(t, e.addr), testUser, testPass, md, asUser)
	if err := os.WriteFile(filepath.Join(dir, "getmailrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	// getmail 6.18 has a race between its SIGCHLD handler and the wait
	// for its delivery child ("waiting child pid N timed out") that a
	// loaded machine hits now and then; it aborts without QUIT, so the
	// server keeps everything and a second run fetches it again.
	var res []byte
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "--getmaildir", dir, "--rcfile", "getmailrc")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		res, err = cmd.CombinedOutput()
		cancel()
		if err == nil {
			break
		}
		if try == 2 || !bytes.Contains(res, []byte("waiting child pid")) {
			t.Fatalf("getmail: %v\n%s", err, res)
		}
		t.Logf("getmail hit its child-wait race, running it again")
	}
	files, _ := filepath.Glob(filepath.Join(md, "new", "*"))
	if len(files) < len(msgs) {
		t.Fatalf("getmail delivered %d, want %d\n%s", len(files), len(msgs), res)
	}
	want := map[string]bool{}
	for _, m := range msgs {
		want[string(lfOnly(m))] = false
	}
	for _, f := range files {
		got, _ := os.ReadFile(f)
		if bytes.HasPrefix(got, []byte("Return-Path:")) {
			_, got, _ = bytes.Cut(got, []byte("\n"))
		}
		if _, ok := want[string(got)]; !ok {
			t.Fatalf("delivered file %s is not a stored message: %q", f, got)
		}
		want[string(got)] = true
	}
	for m, got := range want {
		if !got {
			t.Fatalf("message never delivered: %q", m)
		}
	}
	if n := len(e.inboxRefs(e.acct)); n != 0 {
		t.Fatalf("%d messages left after getmail", n)
	}
}
