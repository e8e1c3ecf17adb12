package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

// certPKI is a test CA that issues a server certificate and client
// certificates.
type certPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	server tls.Certificate
	serial int64
}

func newCertPKI(t *testing.T) *certPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := &certPKI{ca: mustParse(t, der), caKey: key, serial: 1}
	p.server = p.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "mail.test"}, DNSNames: []string{"mail.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return p
}

func (p *certPKI) issue(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	p.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake connects a client with the given certificate (nil for none)
// and returns the server's connection state; the server verifies client
// certificates against the CA when given.
func (p *certPKI) handshake(t *testing.T, client *tls.Certificate) tls.ConnectionState {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.server},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan tls.ConnectionState, 1)
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.Handshake() == nil {
			done <- tc.ConnectionState()
			_, _ = tc.Read(make([]byte, 1))
		}
	}()
	cfg := &tls.Config{RootCAs: pool, ServerName: "mail.test"}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	cc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	st, ok := <-done
	if !ok {
		t.Fatal("server handshake failed")
	}
	return st
}

func TestExternal(t *testing.T) {
	pki := newCertPKI(t)
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	accts.put("bob", mustHash(t, "builder"))
	ctx := context.Background()
	aliceCert := pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, EmailAddresses: []string{"alice@example.org"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	carolCert := pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "carol"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})

	withCert := ConnInfo{Remote: untrusted.Remote, TLS: ptr(pki.handshake(t, &aliceCert))}
	noCert := ConnInfo{Remote: untrusted.Remote, TLS: ptr(pki.handshake(t, nil))}
	carol := ConnInfo{Remote: untrusted.Remote, TLS: ptr(pki.handshake(t, &carolCert))}

	for _, idf := range []string{"", "cn", "email"} {
		s, _ := testService(t, accts, Config{ClientCertIdentity: idf})
		if !slices.Contains(s.Mechanisms(withCert), "EXTERNAL") {
			t.Fatalf("%q: EXTERNAL not advertised with a verified certificate", idf)
		}
		for _, authz := range [][]byte{nil, {}, []byte("alice")} {
			ex, err := s.Start(ctx, withCert, "EXTERNAL")
			if err != nil {
				t.Fatal(err)
			}
			var resp [][]byte
			if authz == nil {
				resp = [][]byte{{}}
			}
			if _, err := run(ctx, ex, authz, resp...); err != nil || ex.Account() != "alice" {
				t.Errorf("%q authzid %q: %v %q", idf, authz, err, ex.Account())
			}
		}
		ex, _ := s.Start(ctx, withCert, "EXTERNAL")
		if _, err := run(ctx, ex, []byte("bob")); !errors.Is(err, ErrFailed) {
			t.Errorf("%q: acting as bob: %v", idf, err)
		}
	}
	s, _ := testService(t, accts, Config{})
	if slices.Contains(s.Mechanisms(noCert), "EXTERNAL") || slices.Contains(s.Mechanisms(loopback), "EXTERNAL") {
		t.Error("EXTERNAL advertised without a client certificate")
	}
	if _, err := s.Start(ctx, noCert, "EXTERNAL"); !errors.Is(err, ErrMechanism) {
		t.Errorf("EXTERNAL without certificate: %v", err)
	}
	ex, _ := s.Start(ctx, carol, "EXTERNAL")
	if _, err := run(ctx, ex, []byte{}); !errors.Is(err, ErrFailed) {
		t.Errorf("certificate for an unknown account: %v", err)
	}
	// A certificate the TLS layer did not verify is not trusted.
	unverified := *withCert.TLS
	unverified.VerifiedChains = nil
	if slices.Contains(s.Mechanisms(ConnInfo{TLS: &unverified}), "EXTERNAL") {
		t.Error("EXTERNAL advertised for an unverified certificate")
	}
}

func ptr[T any](v T) *T { return &v }
