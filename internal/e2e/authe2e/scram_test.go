package authe2e

import (
	"bytes"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// scramSteps runs the client side of SCRAM (RFC 5802 §5) with xdg-go/scram:
// the client-first message as the initial response, then one step per
// server challenge. valid reports, afterwards, whether the client verified
// the server's signature (mutual authentication).
func scramSteps(t *testing.T, mech, user, pass string, cb *scram.ChannelBinding) (ir []byte, step saslStep, valid func() bool) {
	t.Helper()
	hf := scram.SHA256
	if strings.HasPrefix(mech, "SCRAM-SHA-1") {
		hf = scram.SHA1
	}
	client, err := hf.NewClient(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	var conv *scram.ClientConversation
	if cb != nil {
		conv = client.NewConversationWithChannelBinding(*cb)
	} else {
		conv = client.NewConversation()
	}
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	step = func(ch []byte) ([]byte, error) {
		if conv.Done() {
			return nil, errors.New("challenge after the exchange ended")
		}
		resp, err := conv.Step(string(ch))
		return []byte(resp), err
	}
	return []byte(first), step, conv.Valid
}

// binding computes a client-side channel binding of a TLS connection.
func binding(t *testing.T, kind scram.ChannelBindingType, cs *tls.ConnectionState) *scram.ChannelBinding {
	t.Helper()
	var cb scram.ChannelBinding
	var err error
	switch kind {
	case scram.ChannelBindingTLSExporter:
		cb, err = scram.NewTLSExporterBinding(cs)
	case scram.ChannelBindingTLSServerEndpoint:
		cb, err = scram.NewTLSServerEndpointBinding(cs)
	default:
		t.Fatalf("binding type %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &cb
}

func TestSCRAMOverIMAP(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	e.addAccount("alice", "correct horse", false)

	// Plain SCRAM-SHA-256 on a cleartext connection: no password crosses
	// the wire, so it is offered everywhere.
	t.Run("SCRAM-SHA-256 cleartext", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["imap"], "", nil)
		if !strings.Contains(greeting, "AUTH=SCRAM-SHA-256 ") || strings.Contains(greeting, "-PLUS") {
			t.Fatalf("cleartext greeting: %s", greeting)
		}
		ir, step, valid := scramSteps(t, "SCRAM-SHA-256", "alice", "correct horse", nil)
		if got := c.authenticate("SCRAM-SHA-256", ir, step); !strings.HasPrefix(got, "OK") || !valid() {
			t.Fatalf("SCRAM-SHA-256: %s (server verified: %v)", got, valid())
		}
	})

	// -PLUS over IMAPS and over STARTTLS, with both channel bindings.
	for _, tc := range []struct {
		name     string
		starttls bool
		kind     scram.ChannelBindingType
	}{
		{"IMAPS tls-exporter", false, scram.ChannelBindingTLSExporter},
		{"IMAPS tls-server-end-point", false, scram.ChannelBindingTLSServerEndpoint},
		{"STARTTLS tls-exporter", true, scram.ChannelBindingTLSExporter},
		{"STARTTLS tls-server-end-point", true, scram.ChannelBindingTLSServerEndpoint},
	} {
		t.Run("SCRAM-SHA-256-PLUS "+tc.name, func(t *testing.T) {
			var c *lineConn
			if tc.starttls {
				c, _ = mustDial(t, e.addrs["imap"], "", nil)
				c.starttls(insecureTLS(), false)
			} else {
				c, _ = mustDial(t, e.addrs["imaps"], "", insecureTLS())
			}
			if caps := c.capabilities(); !caps["AUTH=SCRAM-SHA-256-PLUS"] {
				t.Fatalf("no AUTH=SCRAM-SHA-256-PLUS over TLS: %v", caps)
			}
			cb := binding(t, tc.kind, c.tlsState())
			ir, step, valid := scramSteps(t, "SCRAM-SHA-256-PLUS", "alice", "correct horse", cb)
			if !bytes.HasPrefix(ir, []byte("p="+string(tc.kind)+",")) {
				t.Fatalf("client-first %q does not ask for %s", ir, tc.kind)
			}
			// Without SASL-IR: the server starts with an empty challenge.
			first := true
			got := c.authenticate("SCRAM-SHA-256-PLUS", nil, func(ch []byte) ([]byte, error) {
				if first {
					first = false
					if len(ch) != 0 {
						t.Errorf("first challenge %q, want empty", ch)
					}
					return ir, nil
				}
				return step(ch)
			})
			if !strings.HasPrefix(got, "OK") || !valid() {
				t.Fatalf("%s: %s (server verified: %v)", tc.name, got, valid())
			}
			if _, tagged := c.imap("SELECT INBOX"); !strings.HasPrefix(tagged, "OK") {
				t.Fatalf("SELECT after SCRAM: %s", tagged)
			}
		})
	}

	// The binding data of another TLS connection (what a man in the middle
	// who terminates TLS would have) is refused, for both binding types.
	for _, kind := range []scram.ChannelBindingType{scram.ChannelBindingTLSExporter, scram.ChannelBindingTLSServerEndpoint} {
		t.Run("channel binding mismatch "+string(kind), func(t *testing.T) {
			other, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
			c, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
			cb := binding(t, kind, other.tlsState())
			if kind == scram.ChannelBindingTLSServerEndpoint {
				// Both connections see the same server certificate, so
				// corrupt the hash as a different certificate would.
				cb.Data = append([]byte(nil), cb.Data...)
				cb.Data[0] ^= 0xff
			}
			ir, step, valid := scramSteps(t, "SCRAM-SHA-256-PLUS", "alice", "correct horse", cb)
			got := c.authenticate("SCRAM-SHA-256-PLUS", ir, step)
			if !strings.HasPrefix(got, "NO") {
				t.Fatalf("mismatched %s binding: %s", kind, got)
			}
			if valid() {
				t.Fatal("client accepted a server signature over a mismatched binding")
			}
			t.Logf("mismatched %s: %s", kind, got)
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
		cb := binding(t, scram.ChannelBindingTLSExporter, c.tlsState())
		ir, step, _ := scramSteps(t, "SCRAM-SHA-256-PLUS", "alice", "wrong horse", cb)
		if got := c.authenticate("SCRAM-SHA-256-PLUS", ir, step); !strings.HasPrefix(got, "NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("wrong password: %s", got)
		}
	})

	// SCRAM-SHA-1-PLUS with both bindings. The tls-server-end-point hash
	// follows the certificate's signature algorithm (RFC 5929 §4.1), not
	// SCRAM's SHA-1; a corrupted one is refused.
	for _, kind := range []scram.ChannelBindingType{scram.ChannelBindingTLSExporter, scram.ChannelBindingTLSServerEndpoint} {
		t.Run("SCRAM-SHA-1-PLUS IMAPS "+string(kind), func(t *testing.T) {
			c, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
			if caps := c.capabilities(); !caps["AUTH=SCRAM-SHA-1-PLUS"] {
				t.Fatalf("no AUTH=SCRAM-SHA-1-PLUS over TLS: %v", caps)
			}
			cb := binding(t, kind, c.tlsState())
			ir, step, valid := scramSteps(t, "SCRAM-SHA-1-PLUS", "alice", "correct horse", cb)
			if !bytes.HasPrefix(ir, []byte("p="+string(kind)+",")) {
				t.Fatalf("client-first %q does not ask for %s", ir, kind)
			}
			if got := c.authenticate("SCRAM-SHA-1-PLUS", ir, step); !strings.HasPrefix(got, "OK") || !valid() {
				t.Fatalf("SCRAM-SHA-1-PLUS %s: %s (server verified: %v)", kind, got, valid())
			}
			if _, tagged := c.imap("SELECT INBOX"); !strings.HasPrefix(tagged, "OK") {
				t.Fatalf("SELECT after SCRAM-SHA-1-PLUS: %s", tagged)
			}

			// From another loopback address, so that the throttle's
			// delay for this failure does not slow the next subtests.
			c, _ = mustDial(t, e.addrs["imaps"], "127.0.0.3", insecureTLS())
			cb = binding(t, kind, c.tlsState())
			cb.Data = append([]byte(nil), cb.Data...)
			cb.Data[0] ^= 0xff
			ir, step, valid = scramSteps(t, "SCRAM-SHA-1-PLUS", "alice", "correct horse", cb)
			if got := c.authenticate("SCRAM-SHA-1-PLUS", ir, step); !strings.HasPrefix(got, "NO") || valid() {
				t.Fatalf("SCRAM-SHA-1-PLUS with a corrupted %s binding: %s (client accepted the server: %v)", kind, got, valid())
			}
		})
	}

	t.Run("SCRAM-SHA-1", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imap"], "", nil)
		ir, step, valid := scramSteps(t, "SCRAM-SHA-1", "alice", "correct horse", nil)
		if got := c.authenticate("SCRAM-SHA-1", ir, step); !strings.HasPrefix(got, "OK") || !valid() {
			t.Fatalf("SCRAM-SHA-1: %s", got)
		}
	})
}
