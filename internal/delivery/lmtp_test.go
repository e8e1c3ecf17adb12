package delivery

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
)

func TestLMTPGreetingAndCapabilities(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{MaxMessageSize: 1 << 20}, false, "ann")
	c := dial(t, "tcp", e.addr)
	greet := c.expect(220)
	if !strings.Contains(greet.lines[0], "mx.test") || !strings.Contains(greet.lines[0], "LMTP") {
		t.Errorf("greeting %v lacks hostname or LMTP", greet)
	}
	// HELO/EHLO are not LMTP (RFC 2033 §4.1).
	c.send("EHLO client.test")
	c.expect(500)
	caps := c.lhlo()
	have := map[string]bool{}
	for _, l := range caps[1:] {
		have[l] = true
	}
	for _, want := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 1048576"} {
		if !have[want] {
			t.Errorf("LHLO lacks %q: %q", want, caps)
		}
	}
	if have["STARTTLS"] || strings.Contains(strings.Join(caps, " "), "AUTH") {
		t.Errorf("LHLO advertises TLS/AUTH it cannot do: %q", caps)
	}
	c.send("NOOP")
	c.expect(250, "2.0.0")
	c.send("QUIT")
	c.expect(221)
}

func TestLMTPCommandsOutOfOrder(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann")
	c := dialGreeted(t, e.addr)
	// Before LHLO.
	c.send("MAIL FROM:<a@example.net>")
	c.expect(502, "5.5.1")
	c.lhlo()
	c.send("RCPT TO:<ann@example.org>")
	c.expect(502, "5.5.1")
	c.send("DATA")
	c.expect(502, "5.5.1")
	c.send("MAIL FROM:<a@example.net>")
	c.expect(250)
	c.send("DATA")
	c.expect(502, "5.5.1") // no recipient yet
	c.send("RSET")
	c.expect(250)
	reps := c.deliverOne("a@example.net", []string{"ann@example.org"}, testMessage("order", "hi\r\n"))
	if len(reps) != 1 || reps[0].code != 250 {
		t.Fatalf("delivery after errors: %v", reps)
	}
	if uids, _ := e.inboxMessages("ann"); len(uids) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(uids))
	}
}

func TestLMTPMultiRecipientOneUnknown(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann", "bob")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("MAIL FROM:<sender@example.net>")
	c.expect(250)
	c.send("RCPT TO:<ann@example.org>")
	c.expect(250)
	c.send("RCPT TO:<nobody@example.org>")
	c.expect(550, "5.1.1")
	c.send("RCPT TO:<Bob@Example.ORG>")
	c.expect(250)
	c.send("DATA")
	c.expect(354)
	msg := testMessage("multi", "Hello both.\r\n")
	c.write(dotStuff(msg))
	// One reply per accepted RCPT, in order (RFC 2033 §4.2).
	r1 := c.expect(250, "2.0.0")
	r2 := c.expect(250, "2.0.0")
	if !strings.Contains(r1.lines[0], "<ann@example.org>") || !strings.Contains(r2.lines[0], "<Bob@Example.ORG>") {
		t.Errorf("replies not per recipient in order: %v / %v", r1, r2)
	}
	for _, who := range []struct{ acct, rcpt string }{{"ann", "ann@example.org"}, {"bob", "Bob@Example.ORG"}} {
		uids, bodies := e.inboxMessages(who.acct)
		if len(uids) != 1 || uids[0] != 1 {
			t.Fatalf("%s: uids %v, want [1]", who.acct, uids)
		}
		want := "Return-Path: <sender@example.net>\r\nDelivered-To: " + who.rcpt + "\r\n" + msg
		if string(bodies[0]) != want {
			t.Errorf("%s: stored\n%q\nwant\n%q", who.acct, bodies[0], want)
		}
	}
}

func TestLMTPAllRecipientsUnknown(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{Domains: []string{"example.org"}}, false, "ann")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("MAIL FROM:<>")
	c.expect(250)
	c.send("RCPT TO:<ghost@example.org>")
	c.expect(550, "5.1.1")
	c.send("RCPT TO:<ann@elsewhere.example>")
	c.expect(550, "5.1.2")
	c.send("RCPT TO:<not an address>")
	c.expect(501)
	c.send("DATA")
	c.expect(502) // no valid recipients
	c.send("RSET")
	c.expect(250)
	// Domains match case-insensitively, with a trailing dot.
	reps := c.deliverOne("", []string{"ann@EXAMPLE.org."}, testMessage("dom", "x\r\n"))
	if len(reps) != 1 || reps[0].code != 250 {
		t.Fatalf("local domain refused: %v", reps)
	}
	_, bodies := e.inboxMessages("ann")
	if len(bodies) != 1 || !bytes.HasPrefix(bodies[0], []byte("Return-Path: <>\r\nDelivered-To: ann@EXAMPLE.org.\r\n")) {
		t.Fatalf("null sender delivery stored %q", bodies)
	}
}

func TestLMTPDuplicateRecipient(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	reps := c.deliverOne("s@example.net", []string{"ann@example.org", "ann@example.org"}, testMessage("dup", "once\r\n"))
	if len(reps) != 2 || reps[0].code != 250 || reps[1].code != 250 {
		t.Fatalf("replies %v, want two 250", reps)
	}
	if uids, _ := e.inboxMessages("ann"); len(uids) != 1 {
		t.Fatalf("a repeated RCPT stored %d copies, want 1", len(uids))
	}
}

func TestLMTPPlusAddressing(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{Domains: []string{"example.org"}}, false, "ann", "x+y")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	msg := testMessage("plus", "tagged\r\n")
	reps := c.deliverOne("s@example.net", []string{"Ann+Lists@example.org", "x+y@example.org", "nobody+ann@example.org"}, msg)
	if len(reps) != 2 {
		t.Fatalf("got %d DATA replies, want 2 (nobody+ann is unknown)", len(reps))
	}
	_, bodies := e.inboxMessages("ann")
	want := "Return-Path: <s@example.net>\r\nDelivered-To: Ann+Lists@example.org\r\n" + msg
	if len(bodies) != 1 || string(bodies[0]) != want {
		t.Fatalf("ann's INBOX holds %q, want %q", bodies, want)
	}
	// An account whose name holds '+' is matched exactly first.
	if uids, _ := e.inboxMessages("x+y"); len(uids) != 1 {
		t.Fatalf("x+y has %d messages, want 1", len(uids))
	}
}

func TestLMTPOverQuota(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann", "bob")
	ctx := context.Background()
	ann, _ := e.inbox("ann")
	if err := e.st.SetQuota(ctx, ann.ID, store.Quota{Messages: 1}); err != nil {
		t.Fatal(err)
	}
	c := dialGreeted(t, e.addr)
	c.lhlo()
	if reps := c.deliverOne("s@example.net", []string{"ann@example.org"}, testMessage("q1", "one\r\n")); len(reps) != 1 || reps[0].code != 250 {
		t.Fatalf("first message: %v", reps)
	}
	// Now full: refused at RCPT, the other recipient still gets it.
	c.send("MAIL FROM:<s@example.net>")
	c.expect(250)
	c.send("RCPT TO:<ann@example.org>")
	c.expect(552, "5.2.2")
	c.send("RCPT TO:<bob@example.org>")
	c.expect(250)
	c.send("DATA")
	c.expect(354)
	c.write(dotStuff(testMessage("q2", "two\r\n")))
	c.expect(250)

	// Byte quota: MAIL SIZE= already tells RCPT the message cannot fit.
	bob, _ := e.inbox("bob")
	if err := e.st.SetQuota(ctx, bob.ID, store.Quota{StorageBytes: 2000}); err != nil {
		t.Fatal(err)
	}
	c.send("MAIL FROM:<s@example.net> SIZE=5000")
	c.expect(250)
	c.send("RCPT TO:<bob@example.org>")
	c.expect(552, "5.2.2")
	c.send("RSET")
	c.expect(250)

	// Without SIZE the check happens at Append: per-recipient 552.
	c.send("MAIL FROM:<s@example.net>")
	c.expect(250)
	c.send("RCPT TO:<bob@example.org>")
	c.expect(250)
	c.send("DATA")
	c.expect(354)
	c.write(dotStuff(testMessage("q3", strings.Repeat("big body line\r\n", 400))))
	c.expect(552, "5.2.2")

	if uids, _ := e.inboxMessages("ann"); len(uids) != 1 {
		t.Errorf("ann has %d messages, want 1", len(uids))
	}
	if uids, _ := e.inboxMessages("bob"); len(uids) != 1 {
		t.Errorf("bob has %d messages, want 1", len(uids))
	}
}

func TestLMTPOversize(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{MaxMessageSize: 4096}, false, "ann", "bob")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("MAIL FROM:<s@example.net> SIZE=100000")
	c.expect(552, "5.3.4")
	for _, rcpts := range [][]string{{"ann@example.org"}, {"ann@example.org", "bob@example.org"}} {
		before := blobFiles(t, e.dir)
		c.send("MAIL FROM:<s@example.net>")
		c.expect(250)
		for _, r := range rcpts {
			c.send("RCPT TO:<" + r + ">")
			c.expect(250)
		}
		c.send("DATA")
		c.expect(354)
		c.write(dotStuff(testMessage("big", strings.Repeat("0123456789abcdef\r\n", 2000))))
		for range rcpts {
			c.expect(552, "5.3.4")
		}
		if after := blobFiles(t, e.dir); after != before {
			t.Errorf("%d recipients: oversize message left %d blob files", len(rcpts), after-before)
		}
	}
	// The session goes on.
	if reps := c.deliverOne("s@example.net", []string{"ann@example.org"}, testMessage("small", "ok\r\n")); len(reps) != 1 || reps[0].code != 250 {
		t.Fatalf("after oversize: %v", reps)
	}
	if uids, _ := e.inboxMessages("ann"); len(uids) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(uids))
	}
}

func TestLMTPGarbageCommands(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("FROB nicate")
	c.expect(500, "5.5.2")
	c.send("MAIL FROM ann")
	c.expect(501)
	c.send("MAIL FROM:<s@example.net> FOO=BAR")
	c.expect(500)
	c.send("VRFY ann")
	c.expect(252)
	c.send("EXPN list")
	c.expect(502)
	c.send("\x00\xff\xfe binary")
	rep := c.read()
	if rep.code/100 != 5 {
		t.Fatalf("binary garbage got %v, want 5xx", rep)
	}
	c.send("DATA extra")
	c.expect(501)
	// The session still delivers.
	if reps := c.deliverOne("s@example.net", []string{"ann@example.org"}, testMessage("g", "fine\r\n")); len(reps) != 1 || reps[0].code != 250 {
		t.Fatalf("after garbage: %v", reps)
	}
	// An over-long command line gets 500 and the connection closes.
	go c.conn.Write([]byte("NOOP " + strings.Repeat("x", maxLineLength+10) + "\r\n"))
	c.expect(500, "5.4.0")
	c.expectClosed()
}

func TestLMTPDropMidData(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann", "bob")
	tmp := t.TempDir()
	e.srv.spoolDir = tmp
	for _, rcpts := range [][]string{{"ann@example.org"}, {"ann@example.org", "bob@example.org"}} {
		c := dialGreeted(t, e.addr)
		c.lhlo()
		c.send("MAIL FROM:<s@example.net>")
		c.expect(250)
		for _, r := range rcpts {
			c.send("RCPT TO:<" + r + ">")
			c.expect(250)
		}
		c.send("DATA")
		c.expect(354)
		c.write(testMessage("drop", strings.Repeat("partial line\r\n", 5000)))
		c.conn.Close()
	}
	e.waitNoConns()
	for _, a := range []string{"ann", "bob"} {
		if uids, _ := e.inboxMessages(a); len(uids) != 0 {
			t.Errorf("%s has %d messages after a dropped DATA", a, len(uids))
		}
	}
	if n := blobFiles(t, e.dir); n != 0 {
		t.Errorf("dropped DATA left %d blob files", n)
	}
	if m, _ := filepath.Glob(filepath.Join(tmp, "*")); len(m) != 0 {
		t.Errorf("spool files left: %v", m)
	}
}

func TestLMTPPipelining(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann", "bob")
	c := dialGreeted(t, e.addr)
	// Everything up to DATA in one write (RFC 2920), then the body.
	msg := testMessage("pipe", ".leading dot\r\nbody\r\n")
	c.write("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<ghost@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
	c.expect(250) // LHLO
	c.expect(250) // MAIL
	c.expect(250) // RCPT ann
	c.expect(550) // RCPT ghost
	c.expect(250) // RCPT bob
	c.expect(354)
	// Body, then a second pipelined transaction behind it.
	c.write(dotStuff(msg) + "MAIL FROM:<s2@example.net>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n")
	c.expect(250)
	c.expect(250)
	c.expect(250)
	c.expect(250)
	c.expect(354)
	c.write(dotStuff(testMessage("pipe2", "second\r\n")) + "QUIT\r\n")
	c.expect(250)
	c.expect(221)
	uids, bodies := e.inboxMessages("ann")
	if len(uids) != 2 {
		t.Fatalf("ann has %d messages, want 2", len(uids))
	}
	if !bytes.HasSuffix(bodies[0], []byte(msg)) {
		t.Errorf("dot-unstuffing lost: %q", bodies[0])
	}
}

func TestLMTPBareLFAndNUL(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("MAIL FROM:<s@example.net> BODY=8BITMIME", "RCPT TO:<ann@example.org>", "DATA")
	c.expect(250)
	c.expect(250)
	c.expect(354)
	c.write("Subject: lf\nX-Bin: a\x00b\n\nline one\nline \xe9t\xe9\r\n.\r\n")
	c.expect(250)
	_, bodies := e.inboxMessages("ann")
	want := "Return-Path: <s@example.net>\r\nDelivered-To: ann@example.org\r\nSubject: lf\r\nX-Bin: a\x00b\r\n\r\nline one\r\nline \xe9t\xe9\r\n"
	if len(bodies) != 1 || string(bodies[0]) != want {
		t.Fatalf("stored %q\nwant %q", bodies, want)
	}
}

func TestLMTPSMTPUTF8(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "jörg")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("MAIL FROM:<sénder@exämple.net> SMTPUTF8")
	c.expect(250)
	c.send("RCPT TO:<JÖRG@example.org>")
	rep := c.read()
	// Lower-casing is ASCII-only in many places; either it matches or it
	// is refused cleanly, never a 4xx.
	if rep.code != 250 {
		t.Logf("non-ASCII upper case local part: %v", rep)
		c.send("RCPT TO:<jörg@example.org>")
		c.expect(250)
	}
	c.send("DATA")
	c.expect(354)
	c.write(dotStuff("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\nGrüße\r\n"))
	c.expect(250)
	_, bodies := e.inboxMessages("jörg")
	if len(bodies) != 1 || !bytes.HasPrefix(bodies[0], []byte("Return-Path: <sénder@exämple.net>\r\n")) {
		t.Fatalf("stored %q", bodies)
	}
}

func TestLMTPUnixSocket(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	ctx := context.Background()
	if _, err := st.CreateAccount(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Store: st, Hostname: "mx.test"})
	// Unix socket paths are short (108 bytes); t.TempDir may be long.
	dir, err := shortTempDir(t)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lmtp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeLMTP(l) }()
	c := dial(t, "unix", path)
	c.expect(220)
	c.lhlo()
	msg := testMessage("unix", "via socket\r\n")
	if reps := c.deliverOne("s@example.net", []string{"ann@example.org"}, msg); len(reps) != 1 || reps[0].code != 250 {
		t.Fatalf("delivery over unix socket: %v", reps)
	}
	// Shutdown closes the idle connection and returns.
	sctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("ServeLMTP: %v", err)
	}
	c.expectClosed()
	acct, mb := inboxOf(t, st, "ann")
	if _, bodies := messages(t, st, acct.ID, mb.ID); len(bodies) != 1 || !bytes.HasSuffix(bodies[0], []byte(msg)) {
		t.Fatalf("stored %q", bodies)
	}
}

// shortTempDir makes a temporary directory with a short path (unix socket
// addresses are limited to about 100 bytes).
func shortTempDir(t *testing.T) (string, error) {
	dir, err := os.MkdirTemp("/tmp", "pdl")
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir, nil
}

func TestLMTPRsetDiscards(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	c.send("MAIL FROM:<s@example.net>", "RCPT TO:<ann@example.org>", "RSET", "DATA")
	c.expect(250)
	c.expect(250)
	c.expect(250)
	c.expect(502) // RSET dropped the recipient
	if uids, _ := e.inboxMessages("ann"); len(uids) != 0 {
		t.Fatalf("ann has %d messages", len(uids))
	}
}

func TestLMTPLongLines(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{MaxMessageSize: 8 << 20}, false, "ann")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	// A 200 KiB line (Postfix rebuilds long lines on delivery) is kept.
	long := strings.Repeat("L", 200<<10)
	msg := testMessage("long", long+"\r\n")
	if reps := c.deliverOne("s@example.net", []string{"ann@example.org"}, msg); len(reps) != 1 || reps[0].code != 250 {
		t.Fatalf("200 KiB line: %v", reps)
	}
	_, bodies := e.inboxMessages("ann")
	if len(bodies) != 1 || !bytes.HasSuffix(bodies[0], []byte(msg)) {
		t.Fatal("long line not stored intact")
	}
	// Past the line limit: a permanent 554 5.6.0, then the connection
	// closes; nothing is stored.
	c.send("MAIL FROM:<s@example.net>", "RCPT TO:<ann@example.org>", "DATA")
	c.expect(250)
	c.expect(250)
	c.expect(354)
	go c.conn.Write([]byte(dotStuff(testMessage("huge", strings.Repeat("H", 2<<20)+"\r\n"))))
	c.expect(554, "5.6.0")
	c.expectClosed()
	if uids, _ := e.inboxMessages("ann"); len(uids) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(uids))
	}
}

// go-smtp closes a connection after more than three unrecognised commands;
// up to three the session continues.
func TestLMTPTooManyErrors(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann")
	c := dialGreeted(t, e.addr)
	c.lhlo()
	for i := 0; i < 3; i++ {
		c.send("FROB command")
		c.expect(500, "5.5.2")
	}
	c.send("NOOP")
	c.expect(250)
	c.send("BOGUS again") // mangled: 501
	c.expect(501, "5.5.2")
	c.expect(500, "5.5.1") // too many errors
	c.expectClosed()
}

// RCPT's lookups are remembered (rcptCache) only until an account
// changes: a deleted user is refused at once, and one deleted between RCPT
// and DATA gets a temporary failure, never a lost or misplaced message.
func TestLMTPRecipientLookupAfterAccountChange(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, false, "ann", "carol", "dave")
	ctx := context.Background()
	c := dialGreeted(t, e.addr)
	c.lhlo()
	for _, rcpt := range []string{"carol@example.org", "dave@example.org"} {
		if reps := c.deliverOne("s@example.net", []string{rcpt}, testMessage("m", "one\r\n")); len(reps) != 1 || reps[0].code != 250 {
			t.Fatalf("first message to %s: %v", rcpt, reps)
		}
	}
	// Deleted after a delivery: the next RCPT knows.
	if err := e.st.DeleteAccount(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	c.send("MAIL FROM:<s@example.net>")
	c.expect(250)
	c.send("RCPT TO:<carol@example.org>")
	c.expect(550, "5.1.1")
	c.send("RSET")
	c.expect(250)

	// Deleted between RCPT and DATA: 451 for dave, ann still gets it.
	c.send("MAIL FROM:<s@example.net>")
	c.expect(250)
	c.send("RCPT TO:<dave@example.org>")
	c.expect(250)
	c.send("RCPT TO:<ann@example.org>")
	c.expect(250)
	if err := e.st.DeleteAccount(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	c.send("DATA")
	c.expect(354)
	c.write(dotStuff(testMessage("m2", "two\r\n")))
	c.expect(451)
	c.expect(250)
	if uids, _ := e.inboxMessages("ann"); len(uids) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(uids))
	}
	c.send("MAIL FROM:<s@example.net>")
	c.expect(250)
	c.send("RCPT TO:<dave@example.org>")
	c.expect(550, "5.1.1")
}
