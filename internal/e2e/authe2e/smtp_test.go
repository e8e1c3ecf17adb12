package authe2e

import (
	"strings"
	"testing"

	"github.com/postern/postern/internal/config"
)

// smtplibScript delivers one message over SMTP after STARTTLS.
const smtplibScript = `
import smtplib, ssl, sys
host, port = sys.argv[1:3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(host, int(port), timeout=30)
s.ehlo("client.postern.test")
print("starttls-offered", s.has_extn("starttls"))
s.starttls(context=ctx)
s.ehlo("client.postern.test")
print("starttls-after", s.has_extn("starttls"), s.sock.version())
msg = "From: <sender@example.org>\r\nTo: <alice@postern.test>\r\nSubject: over STARTTLS\r\n\r\nHello.\r\n"
print("refused", s.sendmail("sender@example.org", ["alice@postern.test"], msg))
s.quit()
`

// TestSMTPSTARTTLS: the SMTP delivery listener offers STARTTLS (RFC 3207)
// with the server's certificates, delivers over it, and drops commands
// pipelined behind STARTTLS in plaintext.
func TestSMTPSTARTTLS(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(_ string, c *config.Config) {
		c.Listen.SMTP = "127.0.0.1:0"
		c.Listen.LMTP = "127.0.0.1:0"
		c.Domains = []string{"postern.test"}
	})
	e.addAccount("alice", "alice pass", false)

	out := python(t, "", smtplibScript, nil, "127.0.0.1", port(e.addrs["smtp"]))
	t.Logf("smtplib:\n%s", out)
	for _, want := range []string{"starttls-offered True", "starttls-after False TLSv1.", "refused {}"} {
		if !strings.Contains(out, want) {
			t.Errorf("smtplib output lacks %q", want)
		}
	}
	c, _ := mustDial(t, e.addrs["imap"], "", nil)
	c.imap("LOGIN alice \"alice pass\"")
	untagged, tagged := c.imap("SELECT INBOX")
	if !strings.HasPrefix(tagged, "OK") || !strings.Contains(strings.Join(untagged, "\n"), "* 1 EXISTS") {
		t.Fatalf("INBOX after SMTP delivery: %s %q", tagged, untagged)
	}

	t.Run("injection", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["smtp"], "", nil)
		if !strings.HasPrefix(greeting, "220 ") {
			t.Fatalf("greeting: %s", greeting)
		}
		c.write("EHLO client.postern.test\r\n")
		for line := c.readLine(); strings.HasPrefix(line, "250-"); line = c.readLine() {
		}
		c.write("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "220 ") {
			t.Fatalf("STARTTLS: %s", line)
		}
		handshakeAfter(t, c)
		// Our EHLO must get the first reply over TLS; an answer to the
		// injected MAIL ("503 … introduce yourself") would come first.
		c.write("EHLO client.postern.test\r\n")
		var ehlo []string
		for {
			line := c.readLine()
			ehlo = append(ehlo, line)
			if !strings.HasPrefix(line, "250-") {
				break
			}
		}
		if !strings.HasPrefix(ehlo[0], "250") || !strings.HasPrefix(ehlo[len(ehlo)-1], "250 ") {
			t.Fatalf("first reply over TLS is not EHLO's: %q", ehlo)
		}
		if strings.Contains(strings.Join(ehlo, "\n"), "STARTTLS") {
			t.Errorf("EHLO over TLS still offers STARTTLS: %q", ehlo)
		}
		// The injected MAIL did not open a transaction: RCPT needs MAIL.
		c.write("RCPT TO:<alice@postern.test>\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "503") && !strings.HasPrefix(line, "5") {
			t.Fatalf("RCPT after an injected MAIL: %s", line)
		}
	})

	t.Run("LMTP has no STARTTLS", func(t *testing.T) {
		// LMTP runs behind the MTA on a socket or loopback (RFC 2033 §5).
		c, _ := mustDial(t, e.addrs["lmtp"], "", nil)
		c.write("LHLO mta.postern.test\r\n")
		var lines []string
		for {
			line := c.readLine()
			lines = append(lines, line)
			if !strings.HasPrefix(line, "250-") {
				break
			}
		}
		if !strings.HasPrefix(lines[len(lines)-1], "250 ") || strings.Contains(strings.Join(lines, "\n"), "STARTTLS") {
			t.Fatalf("LHLO: %q", lines)
		}
	})
}
