package authe2e

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// apopTimestamp is the RFC 1939 §7 timestamp in a POP3 greeting.
var apopTimestamp = regexp.MustCompile(`<[^<>@]+@[^<>]+>`)

// cramStep answers a CRAM-MD5 challenge (RFC 2195 §2).
func cramStep(user, secret string) saslStep {
	return func(ch []byte) ([]byte, error) {
		m := hmac.New(md5.New, []byte(secret))
		m.Write(ch)
		return []byte(user + " " + hex.EncodeToString(m.Sum(nil))), nil
	}
}

// loginSteps answers the SASL LOGIN prompts (draft-murchison-sasl-login).
func loginSteps(user, pass string) saslStep {
	n := 0
	return func(ch []byte) ([]byte, error) {
		n++
		switch n {
		case 1:
			return []byte(user), nil
		case 2:
			return []byte(pass), nil
		}
		return nil, fmt.Errorf("third LOGIN challenge %q", ch)
	}
}

func TestPOP3AUTH(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	e.addAccount("dave", "dave's pass", true)

	t.Run("CAPA", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3s"], "", insecureTLS())
		_, lines := c.pop3Multi("CAPA")
		var sasl string
		for _, l := range lines {
			if strings.HasPrefix(l, "SASL ") {
				sasl = l
			}
		}
		for _, m := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN", "CRAM-MD5"} {
			if !strings.Contains(sasl+" ", " "+m+" ") {
				t.Errorf("POP3S CAPA %q lacks %s", sasl, m)
			}
		}
	})

	t.Run("PLAIN with initial response", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "", nil)
		if got := c.pop3Auth("PLAIN", plainIR("dave", "dave's pass"), noSteps); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("AUTH PLAIN: %s", got)
		}
		if got := c.pop3("STAT"); !strings.HasPrefix(got, "+OK 0 0") {
			t.Fatalf("STAT after AUTH PLAIN: %s", got)
		}
		c.pop3Quit()
	})

	t.Run("PLAIN without initial response", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3s"], "", insecureTLS())
		got := c.pop3Auth("PLAIN", nil, func([]byte) ([]byte, error) { return plainIR("dave", "dave's pass"), nil })
		if !strings.HasPrefix(got, "+OK") {
			t.Fatalf("AUTH PLAIN: %s", got)
		}
		c.pop3Quit()
	})

	t.Run("LOGIN", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3s"], "", insecureTLS())
		if got := c.pop3Auth("LOGIN", nil, loginSteps("dave", "dave's pass")); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("AUTH LOGIN: %s", got)
		}
		c.pop3Quit()
	})

	t.Run("SCRAM-SHA-256", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "", nil)
		ir, step, valid := scramSteps(t, "SCRAM-SHA-256", "dave", "dave's pass", nil)
		if got := c.pop3Auth("SCRAM-SHA-256", ir, step); !strings.HasPrefix(got, "+OK") || !valid() {
			t.Fatalf("AUTH SCRAM-SHA-256: %s", got)
		}
		c.pop3Quit()
	})

	t.Run("SCRAM-SHA-256-PLUS after STLS", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "", nil)
		c.starttls(insecureTLS(), true)
		cb := binding(t, scram.ChannelBindingTLSServerEndpoint, c.tlsState())
		ir, step, valid := scramSteps(t, "SCRAM-SHA-256-PLUS", "dave", "dave's pass", cb)
		if got := c.pop3Auth("SCRAM-SHA-256-PLUS", ir, step); !strings.HasPrefix(got, "+OK") || !valid() {
			t.Fatalf("AUTH SCRAM-SHA-256-PLUS: %s", got)
		}
		c.pop3Quit()
	})

	t.Run("SCRAM-SHA-256-PLUS binding mismatch", func(t *testing.T) {
		other, _ := mustDial(t, e.addrs["pop3s"], "", insecureTLS())
		c, _ := mustDial(t, e.addrs["pop3s"], "", insecureTLS())
		cb := binding(t, scram.ChannelBindingTLSExporter, other.tlsState())
		ir, step, _ := scramSteps(t, "SCRAM-SHA-256-PLUS", "dave", "dave's pass", cb)
		if got := c.pop3Auth("SCRAM-SHA-256-PLUS", ir, step); !strings.HasPrefix(got, "-ERR [AUTH]") {
			t.Fatalf("mismatched binding: %s", got)
		}
	})

	t.Run("CRAM-MD5", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3"], "", nil)
		if got := c.pop3Auth("CRAM-MD5", nil, cramStep("dave", "dave's pass")); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("AUTH CRAM-MD5: %s", got)
		}
		c.pop3Quit()
	})

	t.Run("APOP", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["pop3"], "", nil)
		ts := apopTimestamp.FindString(greeting)
		if ts == "" {
			t.Fatalf("no APOP timestamp in %q", greeting)
		}
		sum := md5.Sum([]byte(ts + "dave's pass"))
		if got := c.pop3("APOP dave " + hex.EncodeToString(sum[:])); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("APOP: %s", got)
		}
		c.pop3Quit()
	})

	t.Run("APOP replayed on another connection", func(t *testing.T) {
		_, greeting := mustDial(t, e.addrs["pop3"], "", nil)
		sum := md5.Sum([]byte(apopTimestamp.FindString(greeting) + "dave's pass"))
		c, _ := mustDial(t, e.addrs["pop3"], "", nil)
		if got := c.pop3("APOP dave " + hex.EncodeToString(sum[:])); !strings.HasPrefix(got, "-ERR [AUTH]") {
			t.Fatalf("replayed APOP digest: %s", got)
		}
	})
}

func TestIMAPSASLLoginAndCRAM(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	e.addAccount("erin", "erin's pass", true)
	e.addAccount("frank", "frank's pass", false)

	c, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
	if got := c.authenticate("LOGIN", nil, loginSteps("erin", "erin's pass")); !strings.HasPrefix(got, "OK") {
		t.Fatalf("AUTHENTICATE LOGIN: %s", got)
	}
	c, _ = mustDial(t, e.addrs["imap"], "", nil)
	if got := c.authenticate("CRAM-MD5", nil, cramStep("erin", "erin's pass")); !strings.HasPrefix(got, "OK") {
		t.Fatalf("AUTHENTICATE CRAM-MD5: %s", got)
	}
	// CRAM-MD5 works only for accounts with a plaintext-equivalent
	// secret; frank has none, and gets the ordinary failure.
	c, _ = mustDial(t, e.addrs["imap"], "", nil)
	if got := c.authenticate("CRAM-MD5", nil, cramStep("frank", "frank's pass")); !strings.HasPrefix(got, "NO") {
		t.Fatalf("CRAM-MD5 without a plaintext-equivalent secret: %s", got)
	}
}
