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

// popResult is what one POP3 round measured on one target.
type popResult struct {
	msgsPerSec, mbPerSec float64
}

// popWorkloads measure one POP3 session pipelining STAT, UIDL, RETR 1..n,
// DELE 1..n and QUIT in one burst (RFC 2449 PIPELINING), once for each
// {n, size} in runs: n messages of size octets. Each is a row in messages
// per second and a follower row in MB/s of the same runs. The first pair
// carries the notes.
func popWorkloads(runs [][2]int) []workload {
	var ws []workload
	for i, r := range runs {
		pair := popWorkload(r[0], r[1])
		if i > 0 {
			pair[0].note, pair[1].note = "", ""
		}
		ws = append(ws, pair...)
	}
	return ws
}

func popWorkload(n, size int) []workload {
	label := fmt.Sprintf("%d × %s", n, sizeName(size))
	results := map[string][]popResult{}
	next := map[string]int{}
	return []workload{
		{
			name: "POP3 pipelined RETR+DELE all, " + label, unit: "msg/s", higher: true, limit: 10 * time.Minute,
			note: "one session: USER, PASS, then STAT, UIDL, RETR 1..n, DELE 1..n, QUIT in one burst, timed from the burst to QUIT's answer (the login is not: postern's first in a run checks an argon2id hash, Dovecot's bench accounts have plain passwords); the mailbox is loaded again (unmeasured) before every round; the same for the other POP3 rows",
			prepare: func(ctx context.Context, t *target) error {
				c, err := makeCorpus(t.scratch, n, size)
				if err != nil {
					return err
				}
				return t.load(ctx, "pop", c.dir)
			},
			run: func(ctx context.Context, t *target) (float64, error) {
				got, octets, took, err := popSession(ctx, t.pop3, "pop", t.password, n)
				if err != nil {
					return 0, err
				}
				if got != n {
					return 0, fmt.Errorf("retrieved %d messages, want %d", got, n)
				}
				secs := took.Seconds()
				r := popResult{msgsPerSec: float64(n) / secs, mbPerSec: float64(octets) / 1e6 / secs}
				results[t.name] = append(results[t.name], r)
				return r.msgsPerSec, nil
			},
		},
		{
			name: "POP3 pipelined RETR+DELE all, " + label + ", data", unit: "MB/s", higher: true, limit: time.Minute, follower: true,
			note: "the runs of the row above: octets of the RETR responses as received (dot-stuffed, CRLF line ends) per second, 1 MB = 10^6 octets; the same for the other POP3 data rows",
			run: func(ctx context.Context, t *target) (float64, error) {
				i := next[t.name]
				if i >= len(results[t.name]) {
					return 0, fmt.Errorf("no POP3 round measured")
				}
				next[t.name] = i + 1
				return results[t.name][i].mbPerSec, nil
			},
		},
	}
}

// popSession logs in, pipelines the rest of the session and returns how
// many RETR replies arrived complete, the octets of their message data (the
// lines between "+OK" and the terminating ".", as received) and the time
// from sending the burst to QUIT's answer.
func popSession(ctx context.Context, addr, user, pass string, n int) (got int, octets int64, took time.Duration, err error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, 0, 0, err
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
	multi := func() (int64, error) { // read to the terminating "."
		var octets int64
		for {
			l, err := line()
			if err != nil {
				return octets, err
			}
			if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
				return octets, nil
			}
			octets += int64(len(l))
		}
	}
	if err := expectOK("greeting"); err != nil {
		return 0, 0, 0, err
	}
	fmt.Fprintf(w, "USER %s\r\nPASS %s\r\n", user, pass)
	w.Flush()
	if err := expectOK("USER"); err != nil {
		return 0, 0, 0, err
	}
	if err := expectOK("PASS"); err != nil {
		return 0, 0, 0, err
	}
	// The rest goes out in one burst from a writer goroutine while the
	// responses are read, as a pipelining client does.
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		fmt.Fprintf(w, "STAT\r\nUIDL\r\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "RETR %d\r\n", i)
		}
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "DELE %d\r\n", i)
		}
		w.WriteString("QUIT\r\n")
		errc <- w.Flush()
	}()
	if err := expectOK("STAT"); err != nil {
		return 0, 0, 0, err
	}
	if err := expectOK("UIDL"); err != nil {
		return 0, 0, 0, err
	}
	if _, err := multi(); err != nil {
		return 0, 0, 0, err
	}
	for i := 1; i <= n; i++ {
		if err := expectOK(fmt.Sprintf("RETR %d", i)); err != nil {
			return got, octets, 0, err
		}
		o, err := multi()
		octets += o
		if err != nil {
			return got, octets, 0, err
		}
		got++
	}
	for i := 1; i <= n; i++ {
		if err := expectOK(fmt.Sprintf("DELE %d", i)); err != nil {
			return got, octets, 0, err
		}
	}
	if err := expectOK("QUIT"); err != nil {
		return got, octets, 0, err
	}
	took = time.Since(start)
	io.Copy(io.Discard, r)
	return got, octets, took, <-errc
}
