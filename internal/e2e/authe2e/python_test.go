package authe2e

import (
	"strings"
	"testing"
)

// imaplibScript logs in with Python's imaplib in every way it offers:
// LOGIN, AUTHENTICATE PLAIN, login_cram_md5, LOGIN after STARTTLS,
// AUTHENTICATE PLAIN over IMAPS, and a wrong password last (it slows the
// address down).
const imaplibScript = `
import imaplib, ssl, sys
host, port, tport, user, pw, cuser, cpw = sys.argv[1:8]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def conn():
    return imaplib.IMAP4(host, int(port), timeout=30)

m = conn()
typ, _ = m.login(user, pw)
print("login", typ, m.select("INBOX")[0])
m.logout()

m = conn()
typ, _ = m.authenticate("PLAIN", lambda ch: ("\0%s\0%s" % (user, pw)).encode())
print("authenticate-plain", typ, m.state)
m.logout()

m = conn()
print("cram-offered", "AUTH=CRAM-MD5" in m.capabilities)
typ, _ = m.login_cram_md5(cuser, cpw)
print("cram-md5", typ, m.state)
m.logout()

m = conn()
m.starttls(ssl_context=ctx)
print("starttls-caps", "STARTTLS" in m.capabilities, "AUTH=SCRAM-SHA-256-PLUS" in m.capabilities)
typ, _ = m.login(user, pw)
print("starttls-login", typ)
m.logout()

m = imaplib.IMAP4_SSL(host, int(tport), ssl_context=ctx, timeout=30)
typ, _ = m.authenticate("PLAIN", lambda ch: ("\0%s\0%s" % (user, pw)).encode())
print("imaps-plain", typ)
m.logout()

m = conn()
try:
    m.login(user, pw + "x")
    print("bad-login accepted")
except imaplib.IMAP4.error as e:
    print("bad-login refused", e)
m.logout()
`

func TestImaplib(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	e.addAccount("alice", "alice pass", false)
	e.addAccount("carol", "carol cram", true)
	out := python(t, "", imaplibScript, nil, "127.0.0.1", port(e.addrs["imap"]), port(e.addrs["imaps"]),
		"alice", "alice pass", "carol", "carol cram")
	t.Logf("imaplib:\n%s", out)
	for _, want := range []string{
		"login OK OK",
		"authenticate-plain OK AUTH",
		"cram-offered True",
		"cram-md5 OK AUTH",
		"starttls-caps False True",
		"starttls-login OK",
		"imaps-plain OK",
		"bad-login refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("imaplib output lacks %q", want)
		}
	}
}

// poplibScript: APOP, STLS then USER/PASS, POP3S, a wrong APOP digest.
const poplibScript = `
import poplib, ssl, sys
host, port, tport, user, pw = sys.argv[1:6]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

m = poplib.POP3(host, int(port), timeout=30)
print("greeting", m.getwelcome().decode())
print("apop", m.apop(user, pw).decode().split()[0], m.stat())
m.quit()

m = poplib.POP3(host, int(port), timeout=30)
before = m.capa()
m.stls(ctx)
after = m.capa()
print("stls", "STLS" in before, "STLS" in after, "SCRAM-SHA-256-PLUS" in " ".join(after.get("SASL", [])))
m.user(user)
print("stls-pass", m.pass_(pw).decode().split()[0])
m.quit()

m = poplib.POP3_SSL(host, int(tport), context=ctx, timeout=30)
m.user(user)
print("pop3s-pass", m.pass_(pw).decode().split()[0])
m.quit()

m = poplib.POP3(host, int(port), timeout=30)
try:
    m.apop(user, pw + "x")
    print("bad-apop accepted")
except poplib.error_proto as e:
    print("bad-apop refused", e)
m.quit()
`

func TestPoplib(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	e.addAccount("carol", "carol pop", true)
	out := python(t, "", poplibScript, nil, "127.0.0.1", port(e.addrs["pop3"]), port(e.addrs["pop3s"]),
		"carol", "carol pop")
	t.Logf("poplib:\n%s", out)
	for _, want := range []string{
		"greeting +OK", "<", // the APOP timestamp (RFC 1939 §7)
		"apop +OK (0, 0)",
		"stls True False True",
		"stls-pass +OK",
		"pop3s-pass +OK",
		"bad-apop refused b'-ERR [AUTH]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("poplib output lacks %q", want)
		}
	}
}

// port returns the port of host:port.
func port(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}
