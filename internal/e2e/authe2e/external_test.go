package authe2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// writePEM writes the CA certificate to a file and returns its path.
func (ca *testCA) writePEM(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "client-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCert issues a TLS client certificate for common name cn.
func (ca *testCA) clientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// withCert is insecureTLS presenting a client certificate.
func withCert(cert tls.Certificate) *tls.Config {
	cfg := insecureTLS()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

func TestEXTERNAL(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "postern test client CA")
	rogue := newCA(t, "rogue CA")
	e := startServer(t, func(dir string, c *config.Config) {
		c.TLS.ClientCA = ca.writePEM(t, dir)
	})
	e.addAccount("alice", "unused password", false)

	t.Run("IMAPS with a trusted client certificate", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["imaps"], "", withCert(ca.clientCert(t, "alice")))
		if !strings.Contains(greeting, "AUTH=EXTERNAL") {
			t.Fatalf("no AUTH=EXTERNAL with a verified certificate: %s", greeting)
		}
		if got := c.authenticate("EXTERNAL", []byte{}, noSteps); !strings.HasPrefix(got, "OK") {
			t.Fatalf("AUTHENTICATE EXTERNAL =: %s", got)
		}
		if _, tagged := c.imap("SELECT INBOX"); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("SELECT after EXTERNAL: %s", tagged)
		}
	})

	t.Run("authorization identity naming the certificate's account", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imaps"], "", withCert(ca.clientCert(t, "alice")))
		if got := c.authenticate("EXTERNAL", []byte("alice"), noSteps); !strings.HasPrefix(got, "OK") {
			t.Fatalf("EXTERNAL with authzid alice: %s", got)
		}
	})

	t.Run("STARTTLS with a trusted client certificate", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["imap"], "", nil)
		if strings.Contains(greeting, "AUTH=EXTERNAL") {
			t.Fatalf("AUTH=EXTERNAL before TLS: %s", greeting)
		}
		c.starttls(withCert(ca.clientCert(t, "alice")), false)
		if got := c.authenticate("EXTERNAL", []byte{}, noSteps); !strings.HasPrefix(got, "OK") {
			t.Fatalf("EXTERNAL after STARTTLS: %s", got)
		}
	})

	t.Run("POP3S with a trusted client certificate", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3s"], "", withCert(ca.clientCert(t, "alice")))
		if got := c.pop3Auth("EXTERNAL", []byte{}, noSteps); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("POP3 AUTH EXTERNAL: %s", got)
		}
	})

	t.Run("no client certificate", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["imaps"], "", insecureTLS())
		if strings.Contains(greeting, "AUTH=EXTERNAL") {
			t.Fatalf("AUTH=EXTERNAL without a certificate: %s", greeting)
		}
		if got := c.authenticate("EXTERNAL", []byte{}, noSteps); !strings.HasPrefix(got, "NO") && !strings.HasPrefix(got, "BAD") {
			t.Fatalf("EXTERNAL without a certificate: %s", got)
		}
	})

	t.Run("certificate for an account that does not exist", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imaps"], "", withCert(ca.clientCert(t, "mallory")))
		if got := c.authenticate("EXTERNAL", []byte{}, noSteps); !strings.HasPrefix(got, "NO") {
			t.Fatalf("EXTERNAL for an unknown account: %s", got)
		}
	})

	t.Run("client certificate from an untrusted CA", func(t *testing.T) {
		// With TLS 1.3 the client finishes its side of the handshake
		// before the server checks the certificate: the refusal arrives
		// as an alert on the first read, in place of the greeting.
		// Go's client sends only a certificate whose issuer the server
		// lists as acceptable; GetClientCertificate sends it regardless,
		// as an attacker would.
		cfg := insecureTLS()
		bad := rogue.clientCert(t, "alice")
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }
		c, err := dial(t, e.addrs["imaps"], "", cfg)
		if err == nil {
			var line string
			line, err = c.readLineErr()
			if err == nil {
				t.Fatalf("server accepted a certificate from an untrusted CA and greeted: %s", line)
			}
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("untrusted client certificate: %v, want a TLS certificate alert", err)
		}
		t.Logf("untrusted CA refused: %v", err)
	})
}

// serverCert issues a TLS server certificate for dnsName and writes the
// chain and key as PEM files; it returns their paths.
func (ca *testCA) serverCert(t *testing.T, dir, dnsName string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = filepath.Join(dir, dnsName+".crt")
	keyPath = filepath.Join(dir, dnsName+".key")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	if err := os.WriteFile(certPath, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
