package authe2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/config"
)

// debianPython is Debian's interpreter, the one python3-gssapi is
// installed for (the first python3 on PATH may be another).
const debianPython = "/usr/bin/python3"

// kdc is a throwaway MIT Kerberos realm POSTERN.TEST made by
// internal/auth/testdata/krb5-setup.sh.
type kdc struct {
	dir, conf, keytab string
}

// startKDC makes the realm on a free loopback port and starts krb5kdc, or
// skips the test when MIT Kerberos or python3-gssapi is not installed
// (fails under CI, see missingTool).
func startKDC(t *testing.T) *kdc {
	t.Helper()
	for _, tool := range []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				missingTool(t, "%s not installed (apt-get install krb5-kdc krb5-admin-server krb5-user)", tool)
			}
		}
	}
	if err := exec.Command(debianPython, "-c", "import gssapi").Run(); err != nil {
		missingTool(t, "python3-gssapi not installed for %s (apt-get install python3-gssapi)", debianPython)
	}
	port := freeTCPUDPPort(t)
	dir := t.TempDir()
	cmd := exec.Command("sh", "../../auth/testdata/krb5-setup.sh", dir, fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() {
		if pid, err := os.ReadFile(filepath.Join(dir, "kdc.pid")); err == nil {
			_ = exec.Command("kill", strings.TrimSpace(string(pid))).Run()
		}
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "setup.log"))
		t.Fatalf("krb5-setup.sh: %v\n%s\n%s", err, out, log)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	return &kdc{dir: dir, conf: filepath.Join(dir, "krb5.conf"), keytab: filepath.Join(dir, "imap.keytab")}
}

// missingTool skips a test that needs an outside tool which is not
// installed here. Under CI (the environment variable CI is set, as .ci/run
// does) it fails instead: .ci/run installs these tools, so their absence
// there is a broken setup, not a reason to pass without testing.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, and .ci/run installs it)", fmt.Sprintf(format, args...))
	}
	t.Skipf(format, args...)
}

// freeTCPUDPPort finds a port free for both TCP and UDP on 127.0.0.1.
func freeTCPUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// kinit gets a ticket-granting ticket for principal into the realm's
// ccache and returns the environment a client needs.
func (k *kdc) kinit(t *testing.T, principal, password string) []string {
	t.Helper()
	env := []string{"KRB5_CONFIG=" + k.conf, "KRB5CCNAME=FILE:" + filepath.Join(k.dir, "ccache-"+strings.ReplaceAll(principal, "/", "_"))}
	cmd := exec.Command("kinit", principal)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit %s: %v\n%s", principal, err, out)
	}
	return env
}

// gssapiIMAPScript logs in with imaplib's AUTHENTICATE GSSAPI (RFC 4752):
// the Kerberos AP exchange with mutual authentication, then the
// security-layer negotiation (no layer).
const gssapiIMAPScript = `
import imaplib, sys
import gssapi
host, port, service = sys.argv[1:4]
name = gssapi.Name(service, gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(name=name, usage="initiate",
    flags=[gssapi.RequirementFlag.mutual_authentication, gssapi.RequirementFlag.integrity])
def step(challenge):
    if not ctx.complete:
        return ctx.step(challenge or None) or b""
    offer = ctx.unwrap(challenge).message
    if len(offer) != 4 or not offer[0] & 1:
        raise SystemExit("server offers no 'no security layer': %r" % offer)
    return ctx.wrap(bytes([1, 0, 0, 0]), False).message
m = imaplib.IMAP4(host, int(port), timeout=30)
print("offered", "AUTH=GSSAPI" in m.capabilities)
try:
    typ, data = m.authenticate("GSSAPI", step)
    print("gssapi", typ, m.state)
    print("mutual", bool(ctx.actual_flags & gssapi.RequirementFlag.mutual_authentication))
    print("select", m.select("INBOX")[0])
    m.logout()
except imaplib.IMAP4.error as e:
    print("gssapi refused", e)
`

func TestGSSAPIOverIMAP(t *testing.T) {
	t.Parallel()
	k := startKDC(t)
	e := startServer(t, func(dir string, c *config.Config) {
		c.Auth.Keytab = k.keytab
		c.Auth.KerberosRealms = []string{"POSTERN.TEST"}
		// Cleartext passwords only from elsewhere: GSSAPI needs no TLS.
		c.Auth.TrustedNetworks = prefixes("127.0.0.2/32")
	})
	e.addAccount("alice", "unused password", false)

	env := k.kinit(t, "alice", "alice-pw")
	out := python(t, debianPython, gssapiIMAPScript, env, "127.0.0.1", port(e.addrs["imap"]), "imap@localhost")
	t.Logf("alice:\n%s", out)
	for _, want := range []string{"offered True", "gssapi OK AUTH", "mutual True", "select OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("GSSAPI login of alice: output lacks %q", want)
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, "mechanism=GSSAPI user=alice") {
		t.Errorf("no GSSAPI login logged:\n%s", logs)
	}

	// bob/admin has a valid ticket but no account here.
	env = k.kinit(t, "bob/admin", "bob-pw")
	out = python(t, debianPython, gssapiIMAPScript, env, "127.0.0.1", port(e.addrs["imap"]), "imap@localhost")
	t.Logf("bob/admin:\n%s", out)
	if !strings.Contains(out, "gssapi refused") {
		t.Errorf("a principal without an account logged in:\n%s", out)
	}
}

// gssapiPOP3Script logs in with POP3 AUTH GSSAPI (RFC 5034, RFC 4752) over
// a raw socket: the first token on a continuation line, or with "ir" as
// the AUTH command's initial response. A Kerberos AP-REQ in base64 is
// longer than the 512 octets a POP3 command line may have; the token
// lengths are printed.
const gssapiPOP3Script = `
import base64, socket, sys
import gssapi
host, port, service, mode = sys.argv[1:5]
name = gssapi.Name(service, gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(name=name, usage="initiate",
    flags=[gssapi.RequirementFlag.mutual_authentication, gssapi.RequirementFlag.integrity])
s = socket.create_connection((host, int(port)), timeout=30)
f = s.makefile("rb")
def line():
    return f.readline().decode().rstrip("\r\n")
def send(text):
    s.sendall(text.encode() + b"\r\n")
line()
send("CAPA")
capa = []
while True:
    l = line()
    if l == ".":
        break
    capa.append(l)
print("offered", any(c.startswith("SASL ") and " GSSAPI" in c + " " for c in capa))
first = base64.b64encode(ctx.step(None)).decode()
print("first token", len(first))
if mode == "ir":
    send("AUTH GSSAPI " + first)
else:
    send("AUTH GSSAPI")
    print("prompt", line()[:1])
    send(first)
while True:
    l = line()
    if not l.startswith("+ "):
        break
    challenge = base64.b64decode(l[2:])
    if not ctx.complete:
        out = ctx.step(challenge) or b""
    else:
        offer = ctx.unwrap(challenge).message
        out = ctx.wrap(bytes([1, 0, 0, 0]), False).message
    send(base64.b64encode(out).decode())
print("result", l)
print("mutual", bool(ctx.actual_flags & gssapi.RequirementFlag.mutual_authentication))
send("STAT")
print("stat", line())
send("QUIT")
print("quit", line())
`

func TestGSSAPIOverPOP3(t *testing.T) {
	t.Parallel()
	k := startKDC(t)
	e := startServer(t, func(dir string, c *config.Config) {
		c.Auth.Keytab = k.keytab
		c.Auth.KerberosRealms = []string{"POSTERN.TEST"}
		c.Auth.TrustedNetworks = prefixes("127.0.0.2/32")
	})
	e.addAccount("alice", "unused password", false)
	env := k.kinit(t, "alice", "alice-pw")
	for _, mode := range []string{"continuation", "ir"} {
		out := python(t, debianPython, gssapiPOP3Script, env, "127.0.0.1", port(e.addrs["pop3"]), "pop@localhost", mode)
		t.Logf("%s:\n%s", mode, out)
		for _, want := range []string{"offered True", "result +OK", "mutual True", "stat +OK 0 0", "quit +OK"} {
			if !strings.Contains(out, want) {
				t.Errorf("POP3 GSSAPI login (%s): output lacks %q", mode, want)
			}
		}
		var n int
		if _, err := fmt.Sscanf(out[strings.Index(out, "first token"):], "first token %d", &n); err != nil || n <= 512 {
			t.Errorf("first token of %d octets (%v): does not test the AUTH line bound", n, err)
		}
	}
	if logs := e.logs.String(); strings.Count(logs, "mechanism=GSSAPI user=alice") < 2 {
		t.Errorf("GSSAPI logins not logged:\n%s", logs)
	}
}
