package authe2e

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/postern/postern/internal/config"
)

// TestServerEndPointWithSNI: with several certificates the one chosen by
// the client's SNI name is the one tls-server-end-point binds to (RFC 5929
// §4), over IMAPS, IMAP STARTTLS and POP3S; clients verify the chain
// against the issuing CA.
func TestServerEndPointWithSNI(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "postern test server CA")
	e := startServer(t, func(dir string, c *config.Config) {
		for _, name := range []string{"mail.postern.test", "imap.other.test"} {
			cert, key := ca.serverCert(t, dir, name)
			c.TLS.Certificates = append(c.TLS.Certificates, config.CertPair{Cert: cert, Key: key})
		}
	})
	e.addAccount("alice", "correct horse", false)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	for _, name := range []string{"mail.postern.test", "imap.other.test"} {
		cfg := &tls.Config{RootCAs: roots, ServerName: name}
		check := func(t *testing.T, c *lineConn) *scram.ChannelBinding {
			t.Helper()
			cs := c.tlsState()
			if err := cs.PeerCertificates[0].VerifyHostname(name); err != nil {
				t.Fatalf("SNI %s got the certificate of %v", name, cs.PeerCertificates[0].DNSNames)
			}
			return binding(t, scram.ChannelBindingTLSServerEndpoint, cs)
		}
		t.Run("IMAPS "+name, func(t *testing.T) {
			c, _ := mustDial(t, e.addrs["imaps"], "", cfg)
			ir, step, valid := scramSteps(t, "SCRAM-SHA-256-PLUS", "alice", "correct horse", check(t, c))
			if got := c.authenticate("SCRAM-SHA-256-PLUS", ir, step); !strings.HasPrefix(got, "OK") || !valid() {
				t.Fatalf("tls-server-end-point with SNI %s: %s", name, got)
			}
		})
		t.Run("STARTTLS "+name, func(t *testing.T) {
			c, _ := mustDial(t, e.addrs["imap"], "", nil)
			c.starttls(cfg, false)
			ir, step, valid := scramSteps(t, "SCRAM-SHA-256-PLUS", "alice", "correct horse", check(t, c))
			if got := c.authenticate("SCRAM-SHA-256-PLUS", ir, step); !strings.HasPrefix(got, "OK") || !valid() {
				t.Fatalf("tls-server-end-point with SNI %s: %s", name, got)
			}
		})
		t.Run("POP3S "+name, func(t *testing.T) {
			c, _ := mustDial(t, e.addrs["pop3s"], "", cfg)
			ir, step, valid := scramSteps(t, "SCRAM-SHA-256-PLUS", "alice", "correct horse", check(t, c))
			if got := c.pop3Auth("SCRAM-SHA-256-PLUS", ir, step); !strings.HasPrefix(got, "+OK") || !valid() {
				t.Fatalf("tls-server-end-point with SNI %s: %s", name, got)
			}
			c.pop3Quit()
		})
	}
}
