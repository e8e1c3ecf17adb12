package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func TestSMTPRelayRefused(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{Domains: []string{"example.org"}}, true, "ann")
	c := dialGreeted(t, e.smtp)
	c.send("LHLO client.test")
	c.expect(500) // not an LMTP port
	c.send("EHLO client.test")
	caps := c.expect(250).lines
	if strings.Contains(strings.Join(caps, " "), "AUTH") {
		t.Errorf("SMTP advertises AUTH: %q", caps)
	}
	c.send("MAIL FROM:<spammer@example.net>")
	c.expect(250)
	c.send("RCPT TO:<victim@elsewhere.example>")
	c.expect(550, "5.7.1")
	c.send("RCPT TO:<ann@example.org@elsewhere.example>")
	c.expect(550, "5.7.1")
	c.send("RCPT TO:<ghost@example.org>")
	c.expect(550, "5.1.1")
	c.send("RCPT TO:<ann@example.org>")
	c.expect(250)
	c.send("DATA")
	c.expect(354)
	msg := testMessage("smtp", "via smtp\r\n")
	c.write(dotStuff(msg))
	c.expect(250, "2.0.0") // one reply for the transaction
	c.send("QUIT")
	c.expect(221)
	_, bodies := e.inboxMessages("ann")
	// SMTP adds its Received trace field (RFC 5321 §4.4) after the
	// delivery headers.
	head := "Return-Path: <spammer@example.net>\r\nDelivered-To: ann@example.org\r\n" +
		"Received: from client.test ([127.0.0.1])\r\n\tby mx.test with ESMTP;\r\n\t"
	if len(bodies) != 1 || !strings.HasPrefix(string(bodies[0]), head) || !strings.HasSuffix(string(bodies[0]), "\r\n"+msg) {
		t.Fatalf("stored %q, want %q + date + %q", bodies, head, msg)
	}
	date := strings.TrimPrefix(string(bodies[0]), head)
	date = date[:strings.Index(date, "\r\n")]
	if _, err := time.Parse(time.RFC1123Z, date); err != nil {
		t.Errorf("Received date %q: %v", date, err)
	}
}

func TestSMTPAnyDomainWhenNoDomains(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, true, "ann")
	c := dialGreeted(t, e.smtp)
	c.send("EHLO client.test")
	c.expect(250)
	c.send("MAIL FROM:<s@example.net>")
	c.expect(250)
	// Unknown users are refused, so nothing is ever relayed.
	c.send("RCPT TO:<ghost@anywhere.example>")
	c.expect(550)
	c.send("RCPT TO:<ann@anywhere.example>")
	c.expect(250)
	c.send("DATA")
	c.expect(354)
	c.write(dotStuff(testMessage("any", "x\r\n")))
	c.expect(250)
	if uids, _ := e.inboxMessages("ann"); len(uids) != 1 {
		t.Fatalf("ann has %d messages, want 1", len(uids))
	}
}

// With SMTP's single reply, a transaction where one recipient fails at
// Append and another succeeds is answered 451: the client retries rather
// than the failed recipient's copy being lost silently.
func TestSMTPPartialFailureIsTemporary(t *testing.T) {
	t.Parallel()
	e := startServer(t, Options{}, true, "ann", "bob")
	bob, _ := e.inbox("bob")
	if err := e.st.SetQuota(context.Background(), bob.ID, store.Quota{StorageBytes: 300}); err != nil {
		t.Fatal(err)
	}
	c := dialGreeted(t, e.smtp)
	c.send("EHLO client.test")
	c.expect(250)
	c.send("MAIL FROM:<s@example.net>", "RCPT TO:<ann@example.org>", "RCPT TO:<bob@example.org>", "DATA")
	c.expect(250)
	c.expect(250)
	c.expect(250)
	c.expect(354)
	c.write(dotStuff(testMessage("partial", strings.Repeat("line of text\r\n", 100))))
	c.expect(451, "4.3.0")
	// All recipients failing permanently gives the permanent reply.
	c.send("MAIL FROM:<s@example.net>", "RCPT TO:<bob@example.org>", "DATA")
	c.expect(250)
	c.expect(250)
	c.expect(354)
	c.write(dotStuff(testMessage("perm", strings.Repeat("line of text\r\n", 100))))
	c.expect(552, "5.2.2")
}
