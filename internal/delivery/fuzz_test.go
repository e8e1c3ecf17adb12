package delivery

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzAddress checks the recipient parsing helpers on any input: the split
// never loses bytes, candidates are lower case and never empty, and the
// trace header is exactly its lines, whatever control characters the
// address holds.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"ann@example.org", "Ann+Lists@Example.ORG.", "x+y@example.org", "+tag@example.org",
		"a@b@c", "\"quoted@local\"@example.org", "bare", "", "@", "ann@", "jörg@exämple.net",
		"evil\r\nBcc: x@y@example.org", "nul\x00@example.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		local, domain := splitAddress(addr)
		if domain == "" && !strings.Contains(addr, "@") && local != addr {
			t.Fatalf("split %q lost the local part: %q", addr, local)
		}
		for _, name := range accountCandidates(local, domain) {
			if name == "" || name != strings.ToLower(name) {
				t.Fatalf("candidate %q of %q", name, addr)
			}
		}
		h := traceHeader(addr, true, "r"+addr)
		lines := bytes.Split(bytes.TrimSuffix(h, []byte("\r\n")), []byte("\r\n"))
		if len(lines) != 2 || !bytes.HasPrefix(lines[0], []byte("Return-Path: <")) || !bytes.HasPrefix(lines[1], []byte("Delivered-To: ")) {
			t.Fatalf("trace header for %q is %q", addr, h)
		}
		if bytes.Count(h, []byte("\n")) != 2 || bytes.Count(h, []byte("\r")) != 2 {
			t.Fatalf("trace header for %q has stray line breaks: %q", addr, h)
		}
	})
}

// FuzzLMTPSession replays arbitrary client input against a real server
// and store: whatever arrives, the server answers a fresh connection
// afterwards, and every stored message starts with its trace header.
func FuzzLMTPSession(f *testing.F) {
	seeds := []string{
		"LHLO x\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nSubject: a\r\n\r\nb\r\n.\r\nQUIT\r\n",
		"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<ann+x@example.org>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n..dot\r\n.\r\n",
		"LHLO x\r\nMAIL FROM:<s@e> SIZE=999999999999\r\nRSET\r\nBDAT 5 LAST\r\nhello",
		"LHLO x\r\nMAIL FROM:<s@e>\r\nRCPT TO:<ann@example.org>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde",
		"LHLO x\r\nMAIL FROM:<s@e>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nno end",
		"\x00\xff\r\n\r\nHELO\r\nEHLO\r\nLHLO\r\nSTARTTLS\r\nAUTH PLAIN AGFubgBzZWNyZXQ=\r\n",
		"LHLO x\nMAIL FROM:<s@e>\nRCPT TO:<ann@example.org>\nDATA\nbare lf\n.\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	st, _ := newTestStore(f)
	ctx := context.Background()
	if _, err := st.CreateAccount(ctx, "ann"); err != nil {
		f.Fatal(err)
	}
	srv := New(Options{Store: st, Hostname: "mx.test", MaxMessageSize: 64 << 10, ReadTimeout: 2 * time.Second})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go srv.ServeLMTP(l)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addr := l.Addr().String()

	f.Fuzz(func(t *testing.T, input []byte) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(testTimeout))
		go func() {
			conn.Write(input)
			conn.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(io.Discard, conn) // until the server hangs up

		c := dialGreeted(t, addr)
		c.send("LHLO check", "NOOP")
		c.expect(250)
		c.expect(250)
		acct, mb := inboxOf(t, st, "ann")
		_, bodies := messages(t, st, acct.ID, mb.ID)
		for _, b := range bodies {
			if !bytes.HasPrefix(b, []byte("Return-Path: <")) || !bytes.Contains(b, []byte("\r\nDelivered-To: ")) {
				t.Fatalf("stored message without trace header: %q", b)
			}
		}
	})
}
