package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
)

// greeting reads the first line a server sends.
func greeting(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading greeting: %v", err)
	}
	return line
}

func TestServerRunAndShutdown(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default()
	cfg.DataDir = dir
	sock := filepath.Join(dir, "lmtp.sock")
	cfg.Listen = config.Listen{
		LMTP:  "unix:" + sock,
		SMTP:  "127.0.0.1:0",
		IMAP:  "127.0.0.1:0",
		IMAPS: "127.0.0.1:0",
		POP3:  "127.0.0.1:0",
		POP3S: "127.0.0.1:0",
	}
	cfg.Limits.ConnectionsPerIP = 2
	cfg.ShutdownTimeout = config.Duration(5 * time.Second)
	srv, err := New(Options{Config: cfg, Store: st, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{}
	for _, l := range srv.Listeners() {
		addrs[l.Name] = l.Addr.String()
	}
	for _, name := range []string{"smtp", "imap", "imaps", "pop3", "pop3s"} {
		if a := addrs[name]; a == "" || strings.HasSuffix(a, ":0") {
			t.Fatalf("%s bound to %q", name, a)
		}
	}
	if addrs["lmtp"] != sock {
		t.Fatalf("lmtp bound to %q", addrs["lmtp"])
	}
	if !srv.Certificates().SelfSigned() || srv.Certificates().Fingerprint() == "" {
		t.Fatal("no self-signed certificate")
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()

	// POP3 answers, up to the per-IP cap; the next connection is refused
	// with a POP3 error.
	p1 := dialTCP(t, addrs["pop3"])
	if g := greeting(t, p1); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("pop3 greeting %q", g)
	}
	p2 := dialTCP(t, addrs["pop3"])
	if g := greeting(t, p2); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("pop3 greeting %q", g)
	}
	p3 := dialTCP(t, addrs["pop3"])
	if g := readAll(t, p3); g != rejectPOP3 {
		t.Fatalf("over the cap: %q", g)
	}
	p1.Close()
	p2.Close()

	// POP3S handshakes with the self-signed certificate. (Here and below
	// the slots of closed connections are freed asynchronously, so a dial
	// may meet the per-IP cap for a moment.)
	tc := dialTLSRetry(t, addrs["pop3s"])
	if g := greeting(t, tc); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("pop3s greeting %q", g)
	}
	tc.Close()

	// IMAP greets in clear text, IMAPS after the handshake.
	var ic net.Conn
	for i := 0; ; i++ {
		ic = dialTCP(t, addrs["imap"])
		g := greeting(t, ic)
		if strings.HasPrefix(g, "* OK") {
			break
		}
		ic.Close()
		if i == 100 {
			t.Fatalf("imap greeting %q", g)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ic.Close()
	itc := dialTLSRetry(t, addrs["imaps"])
	if g := greeting(t, itc); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("imaps greeting %q", g)
	}
	itc.Close()

	// LMTP over the unix socket delivers into the store.
	uc, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(uc)
	if err := lc.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := lc.SendMail("bob@example.org", []string{"alice@localhost"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatalf("lmtp: %v", err)
	}
	lc.Quit()
	acct, _ := st.Account(ctx, "alice")
	inbox, _ := st.Mailbox(ctx, acct.ID, "INBOX")
	if refs, err := st.MessageRefs(ctx, acct.ID, inbox.ID); err != nil || len(refs) != 1 {
		t.Fatalf("inbox after LMTP: %v %v", refs, err)
	}

	// A delivery in progress when the shutdown starts still finishes (or
	// gets a temporary error): never a silent loss.
	dc, err := net.DialTimeout("tcp", addrs["smtp"], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	dc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(dc)
	expect := func(prefix string) string {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("smtp: waiting for %s: %v", prefix, err)
			}
			if len(line) >= 4 && line[3] == '-' {
				continue
			}
			if !strings.HasPrefix(line, prefix) {
				t.Fatalf("smtp: got %q, want %s", line, prefix)
			}
			return line
		}
	}
	expect("220")
	for _, step := range []struct{ cmd, want string }{
		{"EHLO client.example.org", "250"},
		{"MAIL FROM:<bob@example.org>", "250"},
		{"RCPT TO:<alice@localhost>", "250"},
		{"DATA", "354"},
	} {
		if _, err := dc.Write([]byte(step.cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		expect(step.want)
	}
	if _, err := dc.Write([]byte("Subject: in flight\r\n\r\nfirst half\r\n")); err != nil {
		t.Fatal(err)
	}

	cancel()
	time.Sleep(100 * time.Millisecond) // let the shutdown begin
	if _, err := dc.Write([]byte("second half\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	reply, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("in-flight delivery got no reply: %v", err)
	}
	if !strings.HasPrefix(reply, "250") && !strings.HasPrefix(reply, "4") {
		t.Fatalf("in-flight delivery: %q", reply)
	}
	if refs, _ := st.MessageRefs(ctx, acct.ID, inbox.ID); strings.HasPrefix(reply, "250") != (len(refs) == 2) {
		t.Fatalf("reply %q but inbox holds %d messages", reply, len(refs))
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := net.DialTimeout("tcp", addrs["pop3"], time.Second); err == nil {
		t.Fatal("pop3 still accepting after shutdown")
	}
	var _ store.Store = st
}

// dialTLSRetry dials implicit TLS, again while the server refuses the
// connection at its per-IP cap (slots of just-closed connections are
// freed asynchronously).
func dialTLSRetry(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	for i := 0; ; i++ {
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			return tc
		}
		if i == 100 {
			t.Fatalf("%s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
