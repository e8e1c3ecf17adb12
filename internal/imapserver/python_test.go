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

// pythonClient is an imaplib script covering a typical client session.
// It prints "PASS" at the end; any assertion failure raises.
const pythonClient = `
import imaplib, sys, time
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
plain = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: plain %d\r\n\r\nbody %d\r\n"
multi = (b"From: Fred <fred@example.com>\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
         b"see attached\r\n--XX\r\nContent-Type: application/pdf; name=a.pdf\r\n"
         b"Content-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         b"JVBERi0xLjQK\r\n--XX--\r\n")
M = imaplib.IMAP4(host, port)
typ, _ = M.login(user, pw); assert typ == "OK"
typ, _ = M.create("Pyfolder"); assert typ == "OK", typ
for i in (1, 2):
    typ, data = M.append("INBOX", "(\\Flagged)", None, plain % (i, i)); assert typ == "OK", data
typ, data = M.append("INBOX", None, imaplib.Time2Internaldate(time.time()), multi); assert typ == "OK", data
typ, data = M.select("INBOX"); assert typ == "OK" and data[0] == b"3", data
typ, data = M.fetch("3", "(BODYSTRUCTURE)"); assert typ == "OK", data
bs = data[0].decode()
assert '"APPLICATION" "PDF"' in bs.upper() and "MIXED" in bs.upper(), bs
typ, data = M.fetch("3", "(BODY[2])"); assert typ == "OK", data
assert data[0][1].strip() == b"JVBERi0xLjQK", data
typ, data = M.search(None, "FLAGGED"); assert data[0] == b"1 2", data
typ, data = M.search(None, '(SUBJECT "attachment")'); assert data[0] == b"3", data
typ, data = M.store("1", "+FLAGS", "(\\Seen)"); assert typ == "OK" and b"\\Seen" in data[0], data
typ, data = M.copy("1:2", "Pyfolder"); assert typ == "OK", data
typ, data = M._simple_command("MOVE", "3", "Pyfolder"); assert typ == "OK", data
typ, data = M.store("1", "+FLAGS", "(\\Deleted)"); assert typ == "OK"
typ, data = M.expunge(); assert typ == "OK" and data[-1] == b"1", data
typ, data = M.status("Pyfolder", "(MESSAGES)"); assert b"MESSAGES 3" in data[0], data
# IDLE, woken by an append from a second connection.
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
line = M.readline(); assert line.startswith(b"+"), line
N = imaplib.IMAP4(host, port)
N.login(user, pw)
N.append("INBOX", None, None, plain % (9, 9))
N.logout()
line = M.readline(); assert line == b"* 2 EXISTS\r\n", line
M.send(b"DONE\r\n")
while True:
    line = M.readline()
    if line.startswith(tag):
        assert b" OK " in line, line
        break
M.close()
M.logout()
print("PASS")
`

func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ts := newTestServer(t)
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pythonClient), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, script, host, port, "alice", testPassword).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("imaplib script: %v\n%s", err, out)
	}
}
