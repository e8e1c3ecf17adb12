package imapserver

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

func testTLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test.example"},
		DNSNames:     []string{"test.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// dialIMAPS serves ts on an implicit-TLS listener too and dials it; the
// greeting is left to read.
func dialIMAPS(t *testing.T, ts *testServer) *tconn {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", testTLSConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.Serve(l)
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &tconn{t: t, c: conn, r: bufio.NewReader(conn)}
}

// untrusted makes loopback untrusted, so cleartext logins need TLS.
func untrusted(o *Options) {
	o.Auth = auth.New(store.CredentialSource{Store: o.Store, UnknownUser: auth.ErrUnknownUser}, auth.Config{TrustedNetworks: []netip.Prefix{}})
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	cfg := testTLSConfig(t)
	ts := newTestServer(t, untrusted, func(o *Options) { o.TLSConfig = cfg })
	c := ts.dial()
	u := c.ok("CAPABILITY")
	has(t, u, "STARTTLS")
	has(t, u, "LOGINDISABLED")
	hasNot(t, u, "AUTH=PLAIN")
	_, st := c.cmd(`LOGIN alice "` + testPassword + `"`)
	if !strings.HasPrefix(st, "NO [PRIVACYREQUIRED]") {
		t.Fatalf("cleartext login: %q", st)
	}
	// A command pipelined after STARTTLS in plaintext is discarded.
	c.send("s1 STARTTLS\r\ns2 NOOP\r\n")
	if _, st := c.until("s1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("starttls: %q", st)
	}
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true, ServerName: "test.example"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	u = c.ok("CAPABILITY")
	hasNot(t, u, "STARTTLS")
	hasNot(t, u, "LOGINDISABLED")
	has(t, u, "AUTH=PLAIN")
	hasNot(t, u, "s2 ")
	c.no("STARTTLS")
	ir := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + testPassword))
	c.ok("AUTHENTICATE PLAIN " + ir)
	c.ok("SELECT INBOX")
}

func TestImplicitTLSAndAuthenticate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := dialIMAPS(t, ts)
	if g := c.readLine(); !strings.HasPrefix(g, "* OK") || strings.Contains(g, "STARTTLS") {
		t.Fatalf("greeting %q", g)
	}
	// AUTHENTICATE without an initial response, then a cancel.
	c.send("a1 AUTHENTICATE PLAIN\r\n")
	if l := c.readLine(); l != "+ " {
		t.Fatalf("challenge %q", l)
	}
	c.send("*\r\n")
	if _, st := c.until("a1"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("cancel: %q", st)
	}
	_, st := c.cmd("AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wrong")))
	if !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("wrong password: %q", st)
	}
	_, st = c.cmd("AUTHENTICATE X-UNKNOWN")
	if !strings.HasPrefix(st, "NO") {
		t.Fatalf("unknown mechanism: %q", st)
	}
	c.bad("AUTHENTICATE PLAIN !!!notbase64")
	c.send("a2 AUTHENTICATE PLAIN\r\n")
	c.readLine()
	c.send(base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+testPassword)) + "\r\n")
	if _, st := c.until("a2"); !strings.HasPrefix(st, "OK [CAPABILITY") {
		t.Fatalf("authenticate: %q", st)
	}
}

func TestShutdownSaysBye(t *testing.T) {
	t.Parallel()
	forIdleModes(t, testShutdownSaysBye)
}

func testShutdownSaysBye(t *testing.T, mode func(*Options)) {
	ts := newTestServer(t, mode)
	c := ts.login()
	idler := ts.login()
	idler.ok("SELECT INBOX")
	idler.send("i IDLE\r\n")
	idler.readLine()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*tconn{c, idler} {
		if l := x.readLine(); !strings.HasPrefix(l, "* BYE") {
			t.Fatalf("want BYE, got %q", l)
		}
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("listener still open after Shutdown")
	}
}

func TestAutologout(t *testing.T) {
	t.Parallel()
	forIdleModes(t, testAutologout)
}

func testAutologout(t *testing.T, mode func(*Options)) {
	ts := newTestServer(t, mode, func(o *Options) { o.IdleTimeout = 200 * time.Millisecond })
	c := ts.dial()
	if l := c.readLine(); !strings.HasPrefix(l, "* BYE Autologout") {
		t.Fatalf("want autologout, got %q", l)
	}
	d := ts.login()
	d.send("i IDLE\r\n")
	d.readLine()
	if l := d.readLine(); !strings.HasPrefix(l, "* BYE Autologout") {
		t.Fatalf("want autologout in IDLE, got %q", l)
	}
}
