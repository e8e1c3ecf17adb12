package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// makeMessage builds a plausible text message of about size octets, the
// same for both servers given the same seed.
func makeMessage(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\n", r.IntN(1000), r.IntN(1000))
	fmt.Fprintf(&b, "To: Team %d <team%d@example.net>\r\n", r.IntN(1000), r.IntN(1000))
	fmt.Fprintf(&b, "Subject: benchmark message %d about %s\r\n", seed, words[r.IntN(len(words))])
	fmt.Fprintf(&b, "Date: %s\r\n", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seed)*time.Minute).Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <bench.%d.%d@example.org>\r\n", seed, r.Uint64())
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	line := 0
	for b.Len() < size {
		b.WriteString(words[r.IntN(len(words))])
		line++
		if line%12 == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

var words = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod
tempor incididunt labore dolore magna aliqua enim minim veniam quis nostrud exercitation ullamco
laboris nisi aliquip commodo consequat duis aute irure reprehenderit voluptate velit esse cillum
fugiat nulla pariatur excepteur sint occaecat cupidatat proident sunt culpa officia deserunt mollit
anim est laborum invoice meeting project release schedule budget report holiday server mailbox`)

var msgSeed atomic.Uint64

// deliverMany sends n messages of about size octets to user over conns
// LMTP connections, one transaction per message.
func deliverMany(ctx context.Context, addr, user string, n, size, conns int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := lmtpSession(ctx, addr, user, size, func() bool { return next.Add(1) <= int64(n) }); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// lmtpSession delivers messages over one LMTP connection the way
// Postfix's lmtp client does with a server that offers PIPELINING (RFC
// 2920, which both servers announce): MAIL, RCPT and DATA go out in one
// write, then the message; two round trips per message instead of four.
func lmtpSession(ctx context.Context, addr, user string, size int, more func() bool) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	if err := expectReply(r, "220"); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	w.WriteString("LHLO bench.localhost\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if err := expectReply(r, "250"); err != nil {
		return fmt.Errorf("LHLO: %w", err)
	}
	for more() {
		msg := makeMessage(msgSeed.Add(1), size)
		fmt.Fprintf(w, "MAIL FROM:<sender@example.org>\r\nRCPT TO:<%s@localhost>\r\nDATA\r\n", user)
		if err := w.Flush(); err != nil {
			return err
		}
		for _, want := range []string{"250", "250", "354"} {
			if err := expectReply(r, want); err != nil {
				return fmt.Errorf("MAIL/RCPT/DATA: %w", err)
			}
		}
		writeDotStuffed(w, msg)
		w.WriteString(".\r\n")
		if err := w.Flush(); err != nil {
			return err
		}
		if err := expectReply(r, "250"); err != nil {
			return fmt.Errorf("end of data: %w", err)
		}
	}
	w.WriteString("QUIT\r\n")
	w.Flush()
	return expectReply(r, "221")
}

// expectReply reads one (possibly multi-line) reply and checks its code.
func expectReply(r *bufio.Reader, code string) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if len(line) < 4 || line[:3] != code {
			return fmt.Errorf("got %q, want %s", strings.TrimRight(line, "\r\n"), code)
		}
		if line[3] != '-' {
			return nil
		}
	}
}

// writeDotStuffed writes msg (CRLF line ends) with leading dots doubled.
func writeDotStuffed(w *bufio.Writer, msg []byte) {
	for len(msg) > 0 {
		i := bytes.Index(msg, []byte("\r\n"))
		line := msg
		if i >= 0 {
			line = msg[:i+2]
		}
		if line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		msg = msg[len(line):]
		if i < 0 {
			w.WriteString("\r\n")
		}
	}
}
