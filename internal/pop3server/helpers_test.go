package pop3server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
	"github.com/postern/postern/internal/textline"
)

const (
	testUser = "alice"
	testPass = "correct horse"
)

// testEnv is a real server on a real store on 127.0.0.1.
type testEnv struct {
	t    testing.TB
	dir  string // the store's data directory
	st   *sqlite.DB
	auth *auth.Service
	srv  *Server
	addr string
	acct store.Account
}

// envConfig is what envOptions adjust before the server starts.
type envConfig struct {
	opts        Options
	auth        auth.Config
	implicitTLS bool
}

type envOption func(*envConfig)

func newEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := envConfig{opts: Options{Store: st, Hostname: "pop.test"}}
	for _, fn := range opts {
		fn(&cfg)
	}
	o := cfg.opts
	as := auth.New(store.CredentialSource{Store: st, UnknownUser: auth.ErrUnknownUser}, cfg.auth)
	o.Auth = as
	e := &testEnv{t: t, dir: dir, st: st, auth: as}
	e.acct = e.addUser(testUser, testPass)
	e.srv = New(o)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.implicitTLS {
		l = tls.NewListener(l, o.TLSConfig)
	}
	e.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		st.Close()
	})
	return e
}

func withTLS(cfg *tls.Config, implicit bool) envOption {
	return func(c *envConfig) { c.opts.TLSConfig = cfg; c.implicitTLS = implicit }
}

func (e *testEnv) addUser(name, pass string) store.Account {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.st.CreateAccount(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	sec, err := auth.HashPassword(pass)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.SetSecrets(ctx, a.ID, sec); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// testMessage is message i of a test: CRLF lines, some starting with dots.
func testMessage(i, bodyLines int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender%d@example.org\r\nTo: alice@example.org\r\nSubject: test %d\r\nMessage-ID: <m%d@example.org>\r\n\r\n", i, i, i)
	for l := range bodyLines {
		switch l % 5 {
		case 1:
			fmt.Fprintf(&b, ".line %d starts with a dot\r\n", l)
		case 3:
			b.WriteString(".\r\n")
		default:
			fmt.Fprintf(&b, "line %d of message %d\r\n", l, i)
		}
	}
	return b.Bytes()
}

// appendTo stores raw messages in a mailbox of an account.
func (e *testEnv) appendTo(acct store.Account, mailbox string, msgs ...[]byte) {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, acct.ID, mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	var reqs []store.AppendRequest
	for _, m := range msgs {
		staged, err := e.st.Stage(ctx, bytes.NewReader(m), 0)
		if err != nil {
			e.t.Fatal(err)
		}
		reqs = append(reqs, store.AppendRequest{Account: acct.ID, Mailbox: mb.ID, Message: staged})
	}
	for len(reqs) > 0 {
		n := min(len(reqs), 200)
		res, err := e.st.Append(ctx, reqs[:n])
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				e.t.Fatal(r.Err)
			}
		}
		reqs = reqs[n:]
	}
}

func (e *testEnv) inboxRefs(acct store.Account) []store.MessageRef {
	e.t.Helper()
	ctx := context.Background()
	mb, err := e.st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	refs, err := e.st.MessageRefs(ctx, acct.ID, mb.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return refs
}

// client is a test POP3 client speaking the raw protocol.
type client struct {
	t    testing.TB
	conn net.Conn
	in   *textline.Reader
	// Greeting is the server's first line.
	Greeting string
}

func (e *testEnv) dial() *client {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	return newClient(e.t, c)
}

func newClient(t testing.TB, c net.Conn) *client {
	t.Helper()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	cl := &client{t: t, conn: c, in: textline.NewReader(c, 64<<10, nil)}
	t.Cleanup(func() { c.Close() })
	cl.Greeting = cl.line()
	if !strings.HasPrefix(cl.Greeting, "+OK") {
		t.Fatalf("greeting %q", cl.Greeting)
	}
	return cl
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.in.ReadLine()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(l)
}

// cmd sends one command and returns the first response line.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// expect sends a command and checks the response starts with prefix.
func (c *client) expect(line, prefix string) string {
	c.t.Helper()
	got := c.cmd(line)
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("%s: got %q, want prefix %q", line, got, prefix)
	}
	return got
}

// block reads a dot-terminated block after a +OK line.
func (c *client) block() []byte {
	c.t.Helper()
	b, err := io.ReadAll(textline.NewDotReader(c.in))
	if err != nil {
		c.t.Fatalf("block: %v", err)
	}
	return b
}

// blockLines reads a dot-terminated block as lines.
func (c *client) blockLines() []string {
	c.t.Helper()
	s := strings.TrimSuffix(string(c.block()), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

func (c *client) login() {
	c.t.Helper()
	c.expect("USER "+testUser, "+OK")
	c.expect("PASS "+testPass, "+OK")
}

// closed reports whether the server has closed the connection.
func (c *client) closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.in.ReadLine()
	return err != nil
}

func plainResp(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// selfSigned makes a TLS config for 127.0.0.1 and a client config that
// trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pop.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"pop.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, ServerName: "pop.test"}
	return server, client
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
