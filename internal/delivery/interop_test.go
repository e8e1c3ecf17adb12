package delivery

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/internal/store"
)

// pythonLMTP delivers 20 messages with Python's smtplib.LMTP, an
// independent client, then prints one line per message with the
// per-recipient result.
const pythonLMTP = `
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
c = smtplib.LMTP(host, port, timeout=30)
c.ehlo_or_helo_if_needed()
assert c.has_extn("pipelining") and c.has_extn("8bitmime") and c.has_extn("enhancedstatuscodes"), c.esmtp_features
for i in range(20):
    body = ("From: py@example.net\r\nTo: ann@example.org\r\nSubject: py %d\r\n"
            "Message-ID: <py%d@example.net>\r\n\r\nline 1 of %d\r\n.leading dot\r\n" % (i, i, i))
    refused = c.sendmail("py@example.net", ["ann@example.org", "nobody@example.org"], body.encode())
    print(i, sorted(refused.items()))
c.quit()
`

func TestPythonSmtplibLMTP(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	e := startServer(t, Options{}, false, "ann")
	host, port, _ := net.SplitHostPort(e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", pythonLMTP, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 20 {
		t.Fatalf("python printed %d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		// smtplib reports the refused RCPT with our 550 5.1.1.
		want := fmt.Sprintf("%d [('nobody@example.org', (550, b'5.1.1 No such user here'))]", i)
		if l != want {
			t.Errorf("line %d: %q, want %q", i, l, want)
		}
	}
	uids, bodies := e.inboxMessages("ann")
	if len(uids) != 20 {
		t.Fatalf("ann has %d messages, want 20", len(uids))
	}
	for i, b := range bodies {
		if uids[i] != store.UID(i+1) {
			t.Errorf("message %d has UID %d", i, uids[i])
		}
		want := fmt.Sprintf("Return-Path: <py@example.net>\r\nDelivered-To: ann@example.org\r\n"+
			"From: py@example.net\r\nTo: ann@example.org\r\nSubject: py %d\r\n"+
			"Message-ID: <py%d@example.net>\r\n\r\nline 1 of %d\r\n.leading dot\r\n", i, i, i)
		if string(b) != want {
			t.Errorf("message %d stored as\n%q\nwant\n%q", i, b, want)
		}
	}
}

// Four connections deliver 2,000 messages at once: every message arrives
// exactly once and the UIDs are exactly 1..2000.
func TestLMTPConcurrentDelivery(t *testing.T) {
	t.Parallel()
	const conns, perConn = 4, 500
	e := startServer(t, Options{}, false, "ann")
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for k := 0; k < conns; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- deliverMany(e.addr, k, perConn)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	uids, bodies := e.inboxMessages("ann")
	if len(uids) != conns*perConn {
		t.Fatalf("ann has %d messages, want %d", len(uids), conns*perConn)
	}
	seen := make(map[string]bool)
	for i, u := range uids {
		if u != store.UID(i+1) {
			t.Fatalf("UID at %d is %d: UIDs are not 1..%d", i, u, conns*perConn)
		}
		id := messageIDOf(string(bodies[i]))
		if seen[id] {
			t.Fatalf("message %q stored twice", id)
		}
		seen[id] = true
	}
	for k := 0; k < conns; k++ {
		for i := 0; i < perConn; i++ {
			if id := fmt.Sprintf("<c%d-%d@example.net>", k, i); !seen[id] {
				t.Fatalf("message %s missing", id)
			}
		}
	}
}

// deliverMany sends n messages on one connection, pipelining each
// transaction's commands. It reports the first unexpected reply.
func deliverMany(addr string, k, n int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := newReplyReader(conn)
	if code, line := r.next(); code != 220 {
		return fmt.Errorf("greeting %q", line)
	}
	fmt.Fprintf(conn, "LHLO c%d.test\r\n", k)
	if code, line := r.next(); code != 250 {
		return fmt.Errorf("LHLO %q", line)
	}
	for i := 0; i < n; i++ {
		msg := testMessage(fmt.Sprintf("c%d-%d", k, i), "body\r\n")
		fmt.Fprintf(conn, "MAIL FROM:<c%d@example.net>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n", k)
		for _, want := range []int{250, 250, 354} {
			if code, line := r.next(); code != want {
				return fmt.Errorf("conn %d msg %d: got %q, want %d", k, i, line, want)
			}
		}
		if _, err := conn.Write([]byte(dotStuff(msg))); err != nil {
			return err
		}
		if code, line := r.next(); code != 250 {
			return fmt.Errorf("conn %d msg %d: DATA got %q", k, i, line)
		}
	}
	fmt.Fprintf(conn, "QUIT\r\n")
	return nil
}

func messageIDOf(msg string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Message-ID: "); ok {
			return v
		}
	}
	return ""
}
