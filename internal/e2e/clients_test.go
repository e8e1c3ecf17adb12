package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// makeMessage builds a distinct RFC 5322 message (CRLF line ends) whose
// Message-ID is <id@e2e.test>. Its body has lines that start with a dot
// (dot-stuffing on the wire) and a length that varies with n.
func makeMessage(id string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\n", n, n)
	fmt.Fprintf(&b, "To: rcpt@localhost\r\n")
	fmt.Fprintf(&b, "Subject: e2e message %s\r\n", id)
	fmt.Fprintf(&b, "Date: Wed, 25 Nov 2026 12:%02d:%02d +0000\r\n", n/60%60, n%60)
	fmt.Fprintf(&b, "Message-ID: <%s@e2e.test>\r\n", id)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	fmt.Fprintf(&b, "Body of %s.\r\n", id)
	b.WriteString(".a line that starts with a dot\r\n..two dots\r\n.\r\n \r\n")
	for i := 0; i < n%37; i++ {
		fmt.Fprintf(&b, "line %03d of message %s: the quick brown fox jumps over the lazy dog\r\n", i, id)
	}
	b.WriteString("-- \r\nend\r\n")
	return b.Bytes()
}

// lmtpClient is one LMTP connection made with go-smtp's client.
type lmtpClient struct {
	conn net.Conn
	c    *smtp.Client
}

// dialLMTP connects and says LHLO.
func dialLMTP(addr string) (*lmtpClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := smtp.NewClientLMTP(conn)
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 30 * time.Second
	if err := c.Hello("e2e.test"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("LHLO: %w", err)
	}
	return &lmtpClient{conn: conn, c: c}, nil
}

// deliver runs one MAIL/RCPT/DATA transaction; nil means the server
// answered 250 for the recipient after the data.
func (l *lmtpClient) deliver(rcpt string, msg []byte) error {
	l.conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := l.c.Mail("sender@example.org", nil); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := l.c.Rcpt(rcpt, nil); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := l.c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return nil
}

func (l *lmtpClient) close() {
	l.conn.SetDeadline(time.Now().Add(5 * time.Second))
	l.c.Quit()
	l.conn.Close()
}

// deliverAll delivers msgs to rcpt over one connection, failing the test
// at the first error.
func deliverAll(t *testing.T, addr, rcpt string, msgs [][]byte) {
	t.Helper()
	l, err := dialLMTP(addr)
	if err != nil {
		t.Fatalf("LMTP dial: %v", err)
	}
	defer l.close()
	for i, m := range msgs {
		if err := l.deliver(rcpt, m); err != nil {
			t.Fatalf("LMTP delivery %d: %v", i, err)
		}
	}
}

// dialIMAP connects with go-imap v2's client and logs in. The connection
// is closed at the end of the test and, as a backstop, after five minutes.
func dialIMAP(t *testing.T, addr, user, password string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("IMAP dial: %v", err)
	}
	c := imapclient.New(conn, opts)
	watchdog := time.AfterFunc(5*time.Minute, func() { conn.Close() })
	t.Cleanup(func() {
		watchdog.Stop()
		c.Close()
	})
	if err := c.WaitGreeting(); err != nil {
		t.Fatalf("IMAP greeting: %v", err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	return c
}

// storedMessage is one message as IMAP shows it.
type storedMessage struct {
	uid       imap.UID
	messageID string // without angle brackets
	flags     []imap.Flag
	body      []byte // BODY.PEEK[] when asked for
}

var messageIDField = regexp.MustCompile(`(?im)^Message-ID:\s*<([^>]*)>`)

// fetchStored selects mailbox read-only and runs
// UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]) and, when
// full is set, BODY.PEEK[] too. The result is in UID order.
func fetchStored(t *testing.T, c *imapclient.Client, mailbox string, full bool) []storedMessage {
	t.Helper()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("EXAMINE %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
	opts := &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{hdr}}
	whole := &imap.FetchItemBodySection{Peek: true}
	if full {
		opts.BodySection = append(opts.BodySection, whole)
	}
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, opts).Collect()
	if err != nil {
		t.Fatalf("UID FETCH 1:* in %s: %v", mailbox, err)
	}
	if len(msgs) != int(sel.NumMessages) {
		t.Fatalf("UID FETCH 1:* in %s returned %d messages, EXAMINE said %d", mailbox, len(msgs), sel.NumMessages)
	}
	out := make([]storedMessage, 0, len(msgs))
	for _, m := range msgs {
		sm := storedMessage{uid: m.UID, flags: m.Flags}
		if h := m.FindBodySection(hdr); h != nil {
			if mm := messageIDField.FindSubmatch(h); mm != nil {
				sm.messageID = string(mm[1])
			}
		}
		if full {
			sm.body = m.FindBodySection(whole)
			if sm.body == nil {
				t.Fatalf("UID %d: no BODY[] in the FETCH response", m.UID)
			}
		}
		out = append(out, sm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out
}

// pop3Stat logs in over POP3 (USER/PASS) and returns STAT's message count
// and size.
func pop3Stat(t *testing.T, addr, user, password string) (count, size int) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("POP3 dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(conn)
	expectOK := func(what string) string {
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("POP3 %s: %v", what, err)
		}
		if !strings.HasPrefix(line, "+OK") {
			t.Fatalf("POP3 %s: %q", what, line)
		}
		return line
	}
	expectOK("greeting")
	for _, cmd := range []string{"USER " + user, "PASS " + password} {
		tp.PrintfLine("%s", cmd)
		expectOK(strings.Fields(cmd)[0])
	}
	tp.PrintfLine("STAT")
	f := strings.Fields(expectOK("STAT"))
	if len(f) < 3 {
		t.Fatalf("POP3 STAT: %q", f)
	}
	count, err1 := strconv.Atoi(f[1])
	size, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("POP3 STAT: %q", f)
	}
	tp.PrintfLine("QUIT")
	expectOK("QUIT")
	return count, size
}

// crlfToLF turns CRLF line ends into LF, as Maildir files and MDAs hold
// them.
func crlfToLF(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

// headerEnd returns the offset just past the blank line ending the header
// of an LF-only message, or -1.
func headerEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return i + 2
	}
	return -1
}

// headerLines splits an LF-only header block into logical fields (with
// their continuation lines).
func headerLines(h []byte) []string {
	var fields []string
	sc := bufio.NewScanner(bytes.NewReader(h))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += "\n" + line
			continue
		}
		fields = append(fields, line)
	}
	return fields
}

// lmtpSink is an LMTP server on 127.0.0.1 that keeps every message it is
// given, as received (dot-stuffing removed), for clients under test that
// deliver over LMTP.
type lmtpSink struct {
	addr string
	mu   sync.Mutex
	msgs [][]byte
}

// startLMTPSink starts a sink that stops when the test ends.
func startLMTPSink(t *testing.T) *lmtpSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &lmtpSink{addr: l.Addr().String()}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: sink}, nil }))
	s.LMTP = true
	s.Domain = "sink.e2e.test"
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return sink
}

// messages returns what the sink has received so far.
func (s *lmtpSink) messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

type sinkSession struct{ sink *lmtpSink }

func (*sinkSession) Reset()                               {}
func (*sinkSession) Logout() error                        { return nil }
func (*sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	ss.sink.msgs = append(ss.sink.msgs, b)
	ss.sink.mu.Unlock()
	return nil
}
