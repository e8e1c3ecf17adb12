package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestEnsureSelfSigned(t *testing.T) {
	dir := t.TempDir()
	created, err := EnsureSelfSigned(dir, "mail.example.org")
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	certPath, keyPath := SelfSignedPaths(dir)
	if certPath != filepath.Join(dir, "tls", "cert.pem") || keyPath != filepath.Join(dir, "tls", "key.pem") {
		t.Fatalf("paths %s %s", certPath, keyPath)
	}
	for _, p := range []string{certPath, keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v", leaf.PublicKeyAlgorithm)
	}
	if !slices.Contains(leaf.DNSNames, "localhost") || !slices.Contains(leaf.DNSNames, "mail.example.org") {
		t.Errorf("DNS names %v", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Contains(ips, "127.0.0.1") || !slices.Contains(ips, "::1") {
		t.Errorf("IP SANs %v", ips)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "mail.example.org"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}

	// A second call keeps the existing certificate.
	created, err = EnsureSelfSigned(dir, "other.example.org")
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	again, _ := os.ReadFile(certPath)
	if !bytes.Equal(again, certPEM) {
		t.Fatal("certificate was regenerated")
	}

	// The manager loads it and reports the fingerprint of its DER bytes.
	c, err := NewCertificates(config.TLS{}, dir, "ignored", discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if !c.SelfSigned() || c.Fingerprint() != Fingerprint(block.Bytes) || len(c.Fingerprint()) != 32*3-1 {
		t.Fatalf("fingerprint %q self-signed %v", c.Fingerprint(), c.SelfSigned())
	}
}

// writePair writes a fresh self-signed certificate for host to cert/key
// files (atomically, like a certificate renewal tool) and returns its DER.
func writePair(t *testing.T, certPath, keyPath, host string) []byte {
	t.Helper()
	certPEM, keyPEM, err := selfSigned(host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(keyPath, keyPEM); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(certPath, certPEM); err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	return b.Bytes
}

// tlsServer serves TLS handshakes on 127.0.0.1 with cfg until the test ends.
func tlsServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() == nil {
					io.Copy(io.Discard, tc)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// peerCert handshakes with addr (SNI name sni) and returns the server's
// leaf certificate DER.
func peerCert(t *testing.T, addr, sni string) []byte {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: sni})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

func TestCertificatesReloadAndSNI(t *testing.T) {
	dir := t.TempDir()
	pairs := []config.CertPair{
		{Cert: filepath.Join(dir, "a.pem"), Key: filepath.Join(dir, "a.key")},
		{Cert: filepath.Join(dir, "b.pem"), Key: filepath.Join(dir, "b.key")},
	}
	derA := writePair(t, pairs[0].Cert, pairs[0].Key, "a.example.org")
	derB := writePair(t, pairs[1].Cert, pairs[1].Key, "b.example.org")
	c, err := NewCertificates(config.TLS{Certificates: pairs}, dir, "", discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if c.SelfSigned() {
		t.Fatal("configured certificates reported as self-signed")
	}
	if _, err := os.Stat(filepath.Join(dir, "tls")); !os.IsNotExist(err) {
		t.Fatal("self-signed certificate created although certificates are configured")
	}
	cfg := c.TLSConfig("1.2")
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("min version %x", cfg.MinVersion)
	}
	addr := tlsServer(t, cfg)

	// SNI picks the matching certificate; no or unknown SNI gets the first.
	if got := peerCert(t, addr, "b.example.org"); !bytes.Equal(got, derB) {
		t.Fatal("SNI b.example.org did not get certificate b")
	}
	if got := peerCert(t, addr, "a.example.org"); !bytes.Equal(got, derA) {
		t.Fatal("SNI a.example.org did not get certificate a")
	}
	if got := peerCert(t, addr, "unknown.example.org"); !bytes.Equal(got, derA) {
		t.Fatal("unknown SNI did not get the default certificate")
	}

	// Unchanged files: nothing reloaded.
	if changed, err := c.Reload(); changed || err != nil {
		t.Fatalf("reload of unchanged files: changed=%v err=%v", changed, err)
	}

	// New files: the next handshake sees the new certificate.
	derB2 := writePair(t, pairs[1].Cert, pairs[1].Key, "b.example.org")
	if changed, err := c.Reload(); !changed || err != nil {
		t.Fatalf("reload: changed=%v err=%v", changed, err)
	}
	if got := peerCert(t, addr, "b.example.org"); !bytes.Equal(got, derB2) {
		t.Fatal("handshake after reload did not see the new certificate")
	}

	// A broken file keeps the old set.
	if err := os.WriteFile(pairs[0].Key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := c.Reload(); changed || err == nil {
		t.Fatalf("reload of broken key: changed=%v err=%v", changed, err)
	}
	if got := peerCert(t, addr, "a.example.org"); !bytes.Equal(got, derA) {
		t.Fatal("broken reload replaced the certificate")
	}
}

func TestCertificatesWatch(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := SelfSignedPaths(dir)
	if _, err := EnsureSelfSigned(dir, ""); err != nil {
		t.Fatal(err)
	}
	c, err := NewCertificates(config.TLS{}, dir, "", discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, c.TLSConfig("1.3"))
	ctx := t.Context()
	go c.Watch(ctx, 20*time.Millisecond)

	fresh := writePair(t, certPath, keyPath, "renewed.example.org")
	for i := 0; ; i++ {
		if bytes.Equal(peerCert(t, addr, "localhost"), fresh) {
			break
		}
		if i == 500 {
			t.Fatal("watcher never picked up the new certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.Fingerprint() != Fingerprint(fresh) {
		t.Fatal("fingerprint not updated")
	}
}
