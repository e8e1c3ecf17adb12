package imapserver

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// zlibClient speaks COMPRESS=DEFLATE with zlib (an implementation
// independent of Go's): each command goes out one byte at a time, each
// byte flushed with the given flush mode, and the whole answer is read
// before the next command. Z_PARTIAL_FLUSH leaves the stream unaligned
// after an empty fixed block, the case that stalls decompressors which
// read ahead.
const zlibClient = `
import socket, sys, zlib
host, port, user, pw, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
flush = {"partial": zlib.Z_PARTIAL_FLUSH, "sync": zlib.Z_SYNC_FLUSH, "full": zlib.Z_FULL_FLUSH}[mode]
s = socket.create_connection((host, port), timeout=10)
f = s.makefile("rb")
def line():
    l = f.readline(); assert l, "eof"; return l
assert line().startswith(b"* OK")
s.sendall(b'a LOGIN %s "%s"\r\n' % (user.encode(), pw.encode()))
while not line().startswith(b"a OK"): pass
s.sendall(b"b COMPRESS DEFLATE\r\n")
l = line(); assert l.startswith(b"b OK"), l
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
decomp = zlib.decompressobj(-15)
buf = b""
def zline():
    global buf
    while b"\r\n" not in buf:
        data = s.recv(4096); assert data, "eof"
        buf += decomp.decompress(data)
    l, buf = buf.split(b"\r\n", 1)
    return l
cmds = [b"NOOP", b"SELECT INBOX", b"FETCH 1:* (FLAGS UID)", b"UID STORE 1 +FLAGS (\\Seen)", b"FETCH 1 BODY.PEEK[]", b"LOGOUT"]
for i, c in enumerate(cmds):
    tag = b"z%d" % i
    for ch in tag + b" " + c + b"\r\n":
        s.sendall(comp.compress(bytes([ch])) + comp.flush(flush))
    while True:
        l = zline()
        if l.startswith(tag + b" "):
            assert l.startswith(tag + b" OK"), l
            break
print("PASS")
`

func TestCompressZlibClient(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ts := newTestServer(t)
	c := ts.login()
	c.appendMsg("INBOX", "", testMessage(1))
	c.appendMsg("INBOX", "", testMessage(2))
	script := filepath.Join(t.TempDir(), "zclient.py")
	if err := os.WriteFile(script, []byte(zlibClient), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ts.addr)
	for _, mode := range []string{"sync", "full", "partial"} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, py, script, host, port, "alice", testPassword, mode).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("zlib client (%s flush): %v\n%s", mode, err, out)
		}
	}
}
