package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// popWorkloads: one POP3 session pipelining STAT, UIDL, RETR 1..n (and
// DELE 1..n in the second workload), QUIT, in one burst (RFC 2449
// PIPELINING), on n messages of size octets.
func popWorkload(n, size int) workload {
	return workload{
		name: fmt.Sprintf("POP3 pipelined RETR+DELE all, %d × %s", n, sizeName(size)), unit: "msg/s", higher: true, limit: 10 * time.Minute,
		note: "the mailbox is loaded again (unmeasured) before every round",
		prepare: func(ctx context.Context, t *target) error {
			c, err := makeCorpus(t.scratch, n, size)
			if err != nil {
				return err
			}
			return t.load(ctx, "pop", c.dir)
		},
		run: func(ctx context.Context, t *target) (float64, error) {
			start := time.Now()
			got, err := popSession(ctx, t.pop3, "pop", t.password, n, true)
			if err != nil {
				return 0, err
			}
			if got != n {
				return 0, fmt.Errorf("retrieved %d messages, want %d", got, n)
			}
			return float64(n) / time.Since(start).Seconds(), nil
		},
	}
}

// popSession logs in, pipelines the whole session and counts the RETR
// replies that arrived complete.
func popSession(ctx context.Context, addr, user, pass string, n int, dele bool) (int, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	line := func() ([]byte, error) {
		l, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return nil, err
		}
		return l, nil
	}
	expectOK := func(what string) error {
		l, err := line()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !bytes.HasPrefix(l, []byte("+OK")) {
			return fmt.Errorf("%s: %q", what, bytes.TrimSpace(l))
		}
		return nil
	}
	multi := func() error { // read to the terminating "."
		for {
			l, err := line()
			if err != nil {
				return err
			}
			if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
				return nil
			}
		}
	}
	if err := expectOK("greeting"); err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "USER %s\r\nPASS %s\r\n", user, pass)
	w.Flush()
	if err := expectOK("USER"); err != nil {
		return 0, err
	}
	if err := expectOK("PASS"); err != nil {
		return 0, err
	}
	// The rest goes out in one burst from a writer goroutine while the
	// responses are read, as a pipelining client does.
	errc := make(chan error, 1)
	go func() {
		fmt.Fprintf(w, "STAT\r\nUIDL\r\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "RETR %d\r\n", i)
			if dele {
				fmt.Fprintf(w, "DELE %d\r\n", i)
			}
		}
		w.WriteString("QUIT\r\n")
		errc <- w.Flush()
	}()
	if err := expectOK("STAT"); err != nil {
		return 0, err
	}
	if err := expectOK("UIDL"); err != nil {
		return 0, err
	}
	if err := multi(); err != nil {
		return 0, err
	}
	got := 0
	for i := 1; i <= n; i++ {
		if err := expectOK(fmt.Sprintf("RETR %d", i)); err != nil {
			return got, err
		}
		if err := multi(); err != nil {
			return got, err
		}
		got++
		if dele {
			if err := expectOK(fmt.Sprintf("DELE %d", i)); err != nil {
				return got, err
			}
		}
	}
	if err := expectOK("QUIT"); err != nil {
		return got, err
	}
	io.Copy(io.Discard, r)
	return got, <-errc
}
