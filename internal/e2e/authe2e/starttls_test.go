package authe2e

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

// handshakeAfter upgrades c after the server agreed to TLS, failing the
// test when the server sent anything more in plaintext.
func handshakeAfter(t *testing.T, c *lineConn) {
	t.Helper()
	if n := c.r.Buffered(); n != 0 {
		b, _ := c.r.Peek(n)
		t.Fatalf("server answered pipelined plaintext before TLS: %q", b)
	}
	tc := tls.Client(c.conn, insecureTLS())
	tc.SetDeadline(time.Now().Add(ioTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake (the server may have written plaintext into it): %v", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// TestSTARTTLSInjection: commands pipelined behind STARTTLS/STLS in the
// same plaintext packet must be thrown away, not run as if they had come
// over TLS (CVE-2011-0411 class; RFC 9051 §6.2.1, RFC 2595 §3.1).
func TestSTARTTLSInjection(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(_ string, c *config.Config) {
		// 127.0.0.1 is untrusted: PLAIN and LOGIN appear only with TLS.
		c.Auth.TrustedNetworks = prefixes("127.0.0.2/32")
	})
	e.addAccount("alice", "alice pass", false)

	t.Run("IMAP", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["imap"], "", nil)
		if !strings.Contains(greeting, "STARTTLS") || strings.Contains(greeting, "AUTH=PLAIN") {
			t.Fatalf("cleartext greeting: %s", greeting)
		}
		c.write("a STARTTLS\r\nb NOOP\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "a OK") {
			t.Fatalf("STARTTLS: %s", line)
		}
		handshakeAfter(t, c)
		// The first thing the server says over TLS must answer our own
		// command: a "b" response would be the injected NOOP.
		c.write("c CAPABILITY\r\n")
		var caps []string
		for {
			line := c.readLine()
			if strings.HasPrefix(line, "b ") {
				t.Fatalf("injected command answered after the handshake: %s", line)
			}
			if strings.HasPrefix(line, "* CAPABILITY ") {
				caps = strings.Fields(line)
			}
			if strings.HasPrefix(line, "c ") {
				if !strings.HasPrefix(line, "c OK") {
					t.Fatalf("CAPABILITY over TLS: %s", line)
				}
				break
			}
		}
		joined := " " + strings.Join(caps, " ") + " "
		for _, want := range []string{" AUTH=PLAIN ", " AUTH=LOGIN ", " AUTH=SCRAM-SHA-256-PLUS "} {
			if !strings.Contains(joined, want) {
				t.Errorf("capabilities after STARTTLS lack%s: %s", want, joined)
			}
		}
		for _, unwanted := range []string{" STARTTLS ", " LOGINDISABLED "} {
			if strings.Contains(joined, unwanted) {
				t.Errorf("capabilities after STARTTLS still have%s: %s", unwanted, joined)
			}
		}
		// A second STARTTLS is refused, and the session works.
		if _, tagged := c.imap("STARTTLS"); strings.HasPrefix(tagged, "OK") {
			t.Fatalf("second STARTTLS: %s", tagged)
		}
		if _, tagged := c.imap("LOGIN alice \"alice pass\""); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("LOGIN over TLS: %s", tagged)
		}
	})

	t.Run("IMAP injected LOGIN", func(t *testing.T) {
		// A man in the middle appends a command of his own; it must not
		// run inside the client's TLS session.
		c, _ := mustDial(t, e.addrs["imap"], "", nil)
		c.write("a STARTTLS\r\nb LOGIN alice \"alice pass\"\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "a OK") {
			t.Fatalf("STARTTLS: %s", line)
		}
		handshakeAfter(t, c)
		c.write("c NOOP\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "c OK") {
			t.Fatalf("first response over TLS is not ours: %s", line)
		}
		if _, tagged := c.imap("SELECT INBOX"); !strings.HasPrefix(tagged, "BAD") && !strings.HasPrefix(tagged, "NO") {
			t.Fatalf("the injected LOGIN authenticated the session: SELECT %s", tagged)
		}
	})

	t.Run("POP3", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "", nil)
		c.write("STLS\r\nNOOP\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "+OK") {
			t.Fatalf("STLS: %s", line)
		}
		handshakeAfter(t, c)
		status, lines := c.pop3Multi("CAPA")
		if !strings.HasPrefix(status, "+OK Capability") {
			t.Fatalf("first reply over TLS is not CAPA's (the injected NOOP was answered?): %s", status)
		}
		joined := "\n" + strings.Join(lines, "\n") + "\n"
		if strings.Contains(joined, "\nSTLS\n") {
			t.Errorf("CAPA after STLS offers STLS: %q", lines)
		}
		if !strings.Contains(joined, "\nUSER\n") || !strings.Contains(joined, " PLAIN") || !strings.Contains(joined, "SCRAM-SHA-256-PLUS") {
			t.Errorf("CAPA after STLS lacks USER, PLAIN or SCRAM-SHA-256-PLUS: %q", lines)
		}
		if got := c.pop3("STLS"); !strings.HasPrefix(got, "-ERR") {
			t.Errorf("second STLS: %s", got)
		}
	})

	t.Run("POP3 injected USER", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "", nil)
		c.write("STLS\r\nUSER alice\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "+OK") {
			t.Fatalf("STLS: %s", line)
		}
		handshakeAfter(t, c)
		// PASS without a USER over TLS must be refused: the injected USER
		// was dropped.
		if got := c.pop3("PASS alice pass"); !strings.HasPrefix(got, "-ERR") {
			t.Fatalf("PASS after an injected USER: %s", got)
		}
	})
}

// TestCleartextRefusedOutsideTrustedNetworks: with trusted_networks not
// covering the client, no password travels in cleartext, and the offered
// mechanisms say so (RFC 9051 §6.2.3 LOGINDISABLED, RFC 2595 §2.2, §4).
func TestCleartextRefusedOutsideTrustedNetworks(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(_ string, c *config.Config) {
		c.Auth.TrustedNetworks = prefixes("127.0.0.2/32")
	})
	e.addAccount("alice", "alice pass", false)

	t.Run("IMAP from 127.0.0.1", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imap"], "127.0.0.1", nil)
		caps := c.capabilities()
		if !caps["LOGINDISABLED"] || caps["AUTH=PLAIN"] || caps["AUTH=LOGIN"] || !caps["AUTH=SCRAM-SHA-256"] {
			t.Fatalf("untrusted cleartext capabilities: %v", caps)
		}
		_, tagged := c.imap("LOGIN alice \"alice pass\"")
		if !strings.HasPrefix(tagged, "NO") && !strings.HasPrefix(tagged, "BAD") {
			t.Fatalf("cleartext LOGIN from an untrusted address: %s", tagged)
		}
		t.Logf("LOGIN: %s", tagged)
		if got := c.authenticate("PLAIN", plainIR("alice", "alice pass"), noSteps); !strings.HasPrefix(got, "NO [PRIVACYREQUIRED]") {
			t.Fatalf("cleartext AUTHENTICATE PLAIN: %s", got)
		}
		// After STARTTLS the same LOGIN works.
		c.starttls(insecureTLS(), false)
		if caps := c.capabilities(); caps["LOGINDISABLED"] || !caps["AUTH=PLAIN"] {
			t.Fatalf("capabilities over TLS: %v", caps)
		}
		if _, tagged := c.imap("LOGIN alice \"alice pass\""); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("LOGIN over TLS: %s", tagged)
		}
	})

	t.Run("IMAP from trusted 127.0.0.2", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imap"], "127.0.0.2", nil)
		if caps := c.capabilities(); caps["LOGINDISABLED"] || !caps["AUTH=PLAIN"] {
			t.Fatalf("trusted cleartext capabilities: %v", caps)
		}
		if _, tagged := c.imap("LOGIN alice \"alice pass\""); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("LOGIN from a trusted address: %s", tagged)
		}
	})

	t.Run("POP3 from 127.0.0.1", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "127.0.0.1", nil)
		_, lines := c.pop3Multi("CAPA")
		joined := "\n" + strings.Join(lines, "\n") + "\n"
		if strings.Contains(joined, "\nUSER\n") || strings.Contains(joined, " PLAIN") || strings.Contains(joined, " LOGIN") {
			t.Fatalf("untrusted cleartext CAPA offers passwords: %q", lines)
		}
		if !strings.Contains(joined, "\nSTLS\n") || !strings.Contains(joined, "SCRAM-SHA-256") {
			t.Fatalf("untrusted cleartext CAPA lacks STLS or SCRAM: %q", lines)
		}
		if got := c.pop3("USER alice"); !strings.HasPrefix(got, "-ERR") {
			t.Fatalf("USER from an untrusted address: %s", got)
		}
		if got := c.pop3Auth("PLAIN", plainIR("alice", "alice pass"), noSteps); !strings.HasPrefix(got, "-ERR") {
			t.Fatalf("AUTH PLAIN from an untrusted address: %s", got)
		}
	})

	t.Run("POP3 from trusted 127.0.0.2", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "127.0.0.2", nil)
		if got := c.pop3("USER alice"); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("USER from a trusted address: %s", got)
		}
		if got := c.pop3("PASS alice pass"); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("PASS from a trusted address: %s", got)
		}
	})
}
