package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// makeMessage builds a plausible text message of about size octets, the
// same for both servers given the same seed.
func makeMessage(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\n", r.IntN(1000), r.IntN(1000))
	fmt.Fprintf(&b, "To: Bench <bench@localhost>\r\n")
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
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("bench.localhost"); err != nil {
		return fmt.Errorf("LHLO: %w", err)
	}
	for more() {
		msg := makeMessage(msgSeed.Add(1), size)
		if err := c.Mail("sender@example.org", nil); err != nil {
			return fmt.Errorf("MAIL: %w", err)
		}
		if err := c.Rcpt(user+"@localhost", nil); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		if _, err := w.Write(msg); err != nil {
			return err
		}
		resp, err := w.CloseWithLMTPResponse()
		if err != nil {
			return fmt.Errorf("DATA end: %w", err)
		}
		for rcpt, r := range resp {
			if r == nil {
				return fmt.Errorf("no reply for %s", rcpt)
			}
		}
	}
	return c.Quit()
}
