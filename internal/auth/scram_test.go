package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

// The exchanges of RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3
// (SCRAM-SHA-256), replayed byte for byte against the server.
var scramVectors = []struct {
	mech, salt, serverNonce string
	c1, s1, c2, s2          string
}{
	{
		mech: "SCRAM-SHA-1", salt: "QSXCR+Q6sek8bf92", serverNonce: "3rfcNHYJY1ZVvWVs7j",
		c1: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		s1: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		c2: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		s2: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		mech: "SCRAM-SHA-256", salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		c1: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		s1: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		c2: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		s2: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

func TestSCRAMVectors(t *testing.T) {
	ctx := context.Background()
	for _, v := range scramVectors {
		t.Run(v.mech, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(v.salt)
			k1, _ := newSCRAMKeys(sha1.New, "pencil", salt, 4096)
			k256, _ := newSCRAMKeys(sha256.New, "pencil", salt, 4096)
			accts := newMemAccounts()
			accts.put("user", map[string]string{SecretSCRAMSHA1: k1.String(), SecretSCRAMSHA256: k256.String()})
			s, _ := testService(t, accts, Config{})
			s.scramNonce = func() string { return v.serverNonce }

			ex, err := s.Start(ctx, untrusted, v.mech)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := run(ctx, ex, []byte(v.c1), []byte(v.c2))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if len(ch) != 2 || string(ch[0]) != v.s1 || string(ch[1]) != v.s2 {
				t.Fatalf("server messages %q, want %q and %q", ch, v.s1, v.s2)
			}
			if ex.Account() != "user" {
				t.Errorf("account %q", ex.Account())
			}

			// The same exchange with one proof bit flipped fails.
			ex, _ = s.Start(ctx, untrusted, v.mech)
			bad := []byte(v.c2)
			bad[len(bad)-3] ^= 1
			if _, err := run(ctx, ex, []byte(v.c1), bad); !errors.Is(err, ErrFailed) {
				t.Errorf("bad proof: %v", err)
			}
		})
	}
}

// tlsPair makes a real TLS connection over loopback and returns both
// ends' connection states and the server's leaf certificate (DER).
func tlsPair(t *testing.T, version uint16) (server, client tls.ConnectionState, leaf []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mail.test"},
		DNSNames:     []string{"mail.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan tls.ConnectionState, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(done)
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			close(done)
			return
		}
		done <- tc.ConnectionState()
		_, _ = tc.Read(make([]byte, 1)) // until the client closes
	}()
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, der))
	d := &net.Dialer{Timeout: 10 * time.Second}
	cc, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "mail.test", MinVersion: version, MaxVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	st, ok := <-done
	if !ok {
		t.Fatal("server handshake failed")
	}
	return st, cc.ConnectionState(), der
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scramClient runs xdg-go/scram's client against the server exchange.
func scramClient(ctx context.Context, s *Service, c ConnInfo, mech, user, password string, cb *scram.ChannelBinding) (string, error) {
	hf := scram.SHA256
	if mech == "SCRAM-SHA-1" || mech == "SCRAM-SHA-1-PLUS" {
		hf = scram.SHA1
	}
	cl, err := hf.NewClient(user, password, "")
	if err != nil {
		return "", err
	}
	var conv *scram.ClientConversation
	switch {
	case cb != nil:
		conv = cl.NewConversationWithChannelBinding(*cb)
	default:
		conv = cl.NewConversation()
	}
	ex, err := s.Start(ctx, c, mech)
	if err != nil {
		return "", err
	}
	msg, err := conv.Step("")
	if err != nil {
		return "", err
	}
	for range 4 {
		ch, done, err := ex.Next(ctx, []byte(msg))
		if err != nil {
			return "", err
		}
		if msg, err = conv.Step(string(ch)); err != nil {
			return "", err
		}
		if done {
			if !conv.Valid() {
				return "", errors.New("client did not accept the server signature")
			}
			return ex.Account(), nil
		}
	}
	return "", errors.New("exchange too long")
}

func TestSCRAMWithChannelBinding(t *testing.T) {
	ctx := context.Background()
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	s, _ := testService(t, accts, Config{})

	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		srv, cli, leaf := tlsPair(t, version)
		conn := ConnInfo{Remote: untrusted.Remote, Local: untrusted.Local, TLS: &srv, ServerCertificate: leaf}
		mechs := s.Mechanisms(conn)
		for _, m := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1"} {
			if !slices.Contains(mechs, m) {
				t.Errorf("TLS %x: %s not advertised: %v", version, m, mechs)
			}
		}
		exporter, err := scram.NewTLSExporterBinding(&cli)
		if err != nil {
			t.Fatal(err)
		}
		endPoint, err := scram.NewTLSServerEndpointBinding(&cli)
		if err != nil {
			t.Fatal(err)
		}
		for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"} {
			for _, cb := range []scram.ChannelBinding{exporter, endPoint} {
				acct, err := scramClient(ctx, s, conn, mech, "alice", "wonderland", &cb)
				if err != nil || acct != "alice" {
					t.Errorf("TLS %x %s %s: %q %v", version, mech, cb.Type, acct, err)
				}
				if _, err := scramClient(ctx, s, conn, mech, "alice", "rabbit", &cb); !errors.Is(err, ErrFailed) {
					t.Errorf("TLS %x %s %s wrong password: %v", version, mech, cb.Type, err)
				}
			}
		}
		// Plain SCRAM still works on TLS.
		if acct, err := scramClient(ctx, s, conn, "SCRAM-SHA-256", "alice", "wonderland", nil); err != nil || acct != "alice" {
			t.Errorf("TLS %x SCRAM-SHA-256: %q %v", version, acct, err)
		}

		// Bindings of another connection (a man in the middle) are refused.
		_, otherCli, _ := tlsPair(t, version)
		for _, mk := range []func(*tls.ConnectionState) (scram.ChannelBinding, error){scram.NewTLSExporterBinding, scram.NewTLSServerEndpointBinding} {
			cb, _ := mk(&otherCli)
			if _, err := scramClient(ctx, s, conn, "SCRAM-SHA-256-PLUS", "alice", "wonderland", &cb); !errors.Is(err, ErrFailed) {
				t.Errorf("TLS %x mismatched %s binding: %v, want ErrFailed", version, cb.Type, err)
			}
		}
	}

	// Without the server certificate only tls-exporter is offered.
	srv, cli, _ := tlsPair(t, tls.VersionTLS13)
	conn := ConnInfo{Remote: untrusted.Remote, TLS: &srv}
	endPoint, _ := scram.NewTLSServerEndpointBinding(&cli)
	if _, err := scramClient(ctx, s, conn, "SCRAM-SHA-256-PLUS", "alice", "wonderland", &endPoint); !errors.Is(err, ErrFailed) {
		t.Errorf("tls-server-end-point without a server certificate: %v", err)
	}

	// On cleartext: no -PLUS; a "p" flag with plain SCRAM is malformed;
	// a "y" flag is fine there.
	if slices.Contains(s.Mechanisms(untrusted), "SCRAM-SHA-256-PLUS") {
		t.Error("-PLUS advertised without TLS")
	}
	if _, err := s.Start(ctx, untrusted, "SCRAM-SHA-256-PLUS"); !errors.Is(err, ErrMechanism) {
		t.Errorf("-PLUS on cleartext: %v", err)
	}
	ex, _ := s.Start(ctx, untrusted, "SCRAM-SHA-256")
	if _, err := run(ctx, ex, []byte("p=tls-exporter,,n=alice,r=abc")); !errors.Is(err, ErrMalformed) {
		t.Errorf("p flag with SCRAM-SHA-256: %v", err)
	}
	if acct, err := scramClient(ctx, s, untrusted, "SCRAM-SHA-1", "alice", "wonderland", nil); err != nil || acct != "alice" {
		t.Errorf("SCRAM-SHA-1 on cleartext: %q %v", acct, err)
	}
	// A "y" client on TLS means someone stripped -PLUS: refused (§6).
	tlsConn := ConnInfo{Remote: untrusted.Remote, TLS: &srv}
	ex, _ = s.Start(ctx, tlsConn, "SCRAM-SHA-256")
	if _, err := run(ctx, ex, []byte("y,,n=alice,r=abcdef")); !errors.Is(err, ErrFailed) {
		t.Errorf("downgrade (y flag over TLS): %v", err)
	}
}

func TestSCRAMUnknownUserLooksLikeWrongPassword(t *testing.T) {
	ctx := context.Background()
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	s, _ := testService(t, accts, Config{})
	first := func(user string) string {
		ex, _ := s.Start(ctx, loopback, "SCRAM-SHA-256")
		ch, done, err := ex.Next(ctx, []byte("n,,n="+user+",r=clientnonce"))
		if err != nil || done {
			t.Fatalf("first step for %s: %v %v", user, done, err)
		}
		return string(ch)
	}
	a, b := first("mallory"), first("mallory")
	// Same salt and count for repeated probes of a made-up user.
	if a[len("r=clientnonce")+32:] != b[len("r=clientnonce")+32:] {
		t.Errorf("unknown user salts differ: %q %q", a, b)
	}
	if _, err := scramClient(ctx, s, loopback, "SCRAM-SHA-256", "mallory", "x", nil); !errors.Is(err, ErrFailed) {
		t.Errorf("unknown user: %v", err)
	}
}

// BenchmarkSCRAMSHA256 is one full server-side SCRAM-SHA-256 exchange
// (the client's PBKDF2 is cached by xdg-go/scram after the first run).
func BenchmarkSCRAMSHA256(b *testing.B) {
	accts := newMemAccounts()
	accts.put("alice", mustHash(b, "wonderland"))
	s, err := Open(accts, Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cl, _ := scram.SHA256.NewClient("alice", "wonderland", "")
	for b.Loop() {
		conv := cl.NewConversation()
		ex, _ := s.Start(ctx, loopback, "SCRAM-SHA-256")
		msg, _ := conv.Step("")
		for {
			ch, done, err := ex.Next(ctx, []byte(msg))
			if err != nil {
				b.Fatal(err)
			}
			msg, _ = conv.Step(string(ch))
			if done {
				break
			}
		}
	}
}
