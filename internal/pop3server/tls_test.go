package pop3server

import (
	"context"
	"crypto/tls"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
)

// untrusted makes loopback an untrusted network, so cleartext passwords are
// refused before STLS.
func untrusted(c *envConfig) { c.auth.TrustedNetworks = []netip.Prefix{} }

func TestSTLS(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := selfSigned(t)
	e := newEnv(t, withTLS(srvTLS, false), untrusted)
	c := e.dial()
	c.expect("CAPA", "+OK")
	capa := c.blockLines()
	if !slices.Contains(capa, "STLS") || slices.Contains(capa, "USER") {
		t.Fatalf("cleartext CAPA %q", capa)
	}
	for _, l := range capa {
		if strings.Contains(l, "PLAIN") {
			t.Fatalf("PLAIN offered in cleartext: %q", capa)
		}
	}
	c.expect("USER "+testUser, "-ERR [AUTH]")
	c.expect("AUTH PLAIN "+plainResp(testUser, testPass), "-ERR")
	// Pipelined plaintext after STLS must be discarded (RFC 2595 §4).
	c.send("STLS", "USER injected")
	if l := c.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("STLS: %q", l)
	}
	tc := tls.Client(c.conn, cliTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn = tc
	c.in.Reset(tc)
	c.expect("PASS "+testPass, "-ERR") // the injected USER is gone
	c.expect("CAPA", "+OK")
	capa = c.blockLines()
	if slices.Contains(capa, "STLS") || !slices.Contains(capa, "USER") {
		t.Fatalf("CAPA after STLS %q", capa)
	}
	c.expect("STLS", "-ERR")
	c.login()
	c.expect("QUIT", "+OK")
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := selfSigned(t)
	e := newEnv(t, withTLS(srvTLS, true), untrusted)
	conn, err := tls.Dial("tcp", e.addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	c.expect("CAPA", "+OK")
	if capa := c.blockLines(); slices.Contains(capa, "STLS") || !slices.Contains(capa, "USER") {
		t.Fatalf("CAPA %q", capa)
	}
	c.expect("STLS", "-ERR")
	c.login()
	c.expect("QUIT", "+OK")
}

func TestAPOP(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	e := newEnv(t, func(c *envConfig) { c.auth.PlainSecretKey = key; c.auth.EnableAPOP = true })
	sec, err := auth.HashPasswordWith("tanstaaf", auth.HashOptions{PlainSecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	bob := e.addUser("bob", "x")
	if err := e.st.SetSecrets(context.Background(), bob.ID, sec); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	i, j := strings.IndexByte(c.Greeting, '<'), strings.IndexByte(c.Greeting, '>')
	if i < 0 || j < i {
		t.Fatalf("no APOP timestamp: %q", c.Greeting)
	}
	ts := c.Greeting[i : j+1]
	c.expect("APOP bob 00000000000000000000000000000000", "-ERR [AUTH]")
	c.expect("APOP bob", "-ERR")
	c.expect("APOP bob "+md5hex(ts+"tanstaaf"), "+OK")
	c.expect("QUIT", "+OK")
	// A second connection has another timestamp; the old digest fails.
	d := e.dial()
	if strings.Contains(d.Greeting, ts) {
		t.Fatal("timestamp reused")
	}
	d.expect("APOP bob "+md5hex(ts+"tanstaaf"), "-ERR [AUTH]")
}

func TestShutdownEndsIdleSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 1))
	c := e.dial()
	c.login()
	c.expect("DELE 1", "+OK")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if l := c.line(); !strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
		t.Fatalf("got %q", l)
	}
	if n := len(e.inboxRefs(e.acct)); n != 1 {
		t.Fatalf("shutdown deleted mail: %d left", n)
	}
}
