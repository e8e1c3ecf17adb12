package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// idleResult is what one IDLE round measured on one target.
type idleResult struct {
	p50, p99, kibPerConn float64
}

// idleWorkload opens conns IMAP connections, each logged in with INBOX
// selected and in IDLE, measures the servers' memory (PSS) per connection,
// delivers one message over LMTP and times until every connection has seen
// EXISTS. It yields three rows that share each round's measurement.
func idleWorkload(conns int) workload {
	return workload{
		name: fmt.Sprintf("IMAP IDLE: %d conns, wake-up p50 after one delivery", conns), unit: "ms", limit: 10 * time.Minute,
		run: func(ctx context.Context, t *target) (float64, error) {
			r, err := idleRound(ctx, t, conns)
			if err != nil {
				return 0, err
			}
			t.idle = append(t.idle, r)
			return r.p50, nil
		},
	}
}

func idleFollowers(conns int) []workload {
	// Each follower row reads the leader's rounds in order, by its own
	// position per target.
	pick := func(f func(idleResult) float64) func(ctx context.Context, t *target) (float64, error) {
		next := map[string]int{}
		return func(ctx context.Context, t *target) (float64, error) {
			i := next[t.name]
			if i >= len(t.idle) {
				return 0, fmt.Errorf("no IDLE round measured")
			}
			next[t.name] = i + 1
			return f(t.idle[i]), nil
		}
	}
	return []workload{
		{name: fmt.Sprintf("IMAP IDLE: %d conns, wake-up p99", conns), unit: "ms", limit: time.Minute, run: pick(func(r idleResult) float64 { return r.p99 }), follower: true},
		{name: fmt.Sprintf("IMAP IDLE: %d conns, server memory per conn (PSS)", conns), unit: "KiB", limit: time.Minute, run: pick(func(r idleResult) float64 { return r.kibPerConn }), follower: true},
	}
}

func idleRound(ctx context.Context, t *target, n int) (idleResult, error) {
	var res idleResult
	before, err := pssKiB(t.pids())
	if err != nil {
		return res, err
	}
	type idler struct {
		c net.Conn
		r *bufio.Reader
	}
	idlers := make([]idler, 0, n)
	defer func() {
		for _, i := range idlers {
			i.c.Close()
		}
	}()
	// Open in parallel batches to keep setup short.
	var mu sync.Mutex
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var firstErr error
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ic, err := dialIMAP(ctx, t.imap, "idle", t.password)
			if err == nil {
				_, err = ic.cmd("SELECT INBOX")
			}
			if err == nil {
				ic.w.WriteString("I IDLE\r\n")
				err = ic.w.Flush()
			}
			if err == nil {
				var l []byte
				l, err = ic.readLine()
				if err == nil && (len(l) == 0 || l[0] != '+') {
					err = fmt.Errorf("IDLE: %q", l)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				if ic != nil {
					ic.c.Close()
				}
				return
			}
			idlers = append(idlers, idler{ic.c, ic.r})
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return res, fmt.Errorf("opening %d IDLE connections: %w", n, firstErr)
	}
	time.Sleep(500 * time.Millisecond) // let the servers settle
	after, err := pssKiB(t.pids())
	if err != nil {
		return res, err
	}
	res.kibPerConn = float64(after-before) / float64(n)

	// A connection that has not seen EXISTS after idleWait counts as
	// idleWait (and is reported), rather than failing the run.
	const idleWait = 60 * time.Second
	lat := make([]float64, len(idlers))
	// The readers start and block in Read before the clock starts, so
	// that the harness's own start-up of 10,000 goroutines is not inside
	// the measured time (it competed with the server for the CPUs).
	var start atomic.Int64 // UnixNano when the delivery begins
	var ready sync.WaitGroup
	var wg2 sync.WaitGroup
	var missed atomic.Int64
	errc := make(chan error, len(idlers))
	for i, idl := range idlers {
		wg2.Add(1)
		ready.Add(1)
		go func() {
			defer wg2.Done()
			idl.c.SetReadDeadline(time.Now().Add(idleWait))
			ready.Done()
			for {
				l, err := idl.r.ReadSlice('\n')
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					lat[i] = idleWait.Seconds() * 1000
					missed.Add(1)
					return
				}
				if err != nil {
					errc <- err
					return
				}
				if bytes.Contains(l, []byte("EXISTS")) {
					lat[i] = float64(time.Now().UnixNano()-start.Load()) / 1e6
					return
				}
			}
		}()
	}
	ready.Wait()
	time.Sleep(200 * time.Millisecond) // every reader parked in Read
	start.Store(time.Now().UnixNano())
	if err := deliverMany(ctx, t.lmtp, "idle", 1, 2<<10, 1); err != nil {
		return res, err
	}
	wg2.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return res, fmt.Errorf("waiting for EXISTS: %w", err)
	}
	if m := missed.Load(); m > 0 {
		logf("  %s: %d of %d IDLE connections saw no EXISTS within %v", t.name, m, len(idlers), idleWait)
	}
	sort.Float64s(lat)
	res.p50 = lat[len(lat)/2]
	res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	return res, nil
}

// pssKiB sums the proportional set size of processes.
func pssKiB(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue // exited meanwhile
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Pss:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					v, _ := strconv.ParseInt(f[1], 10, 64)
					total += v
				}
			}
		}
	}
	if total == 0 {
		return 0, fmt.Errorf("could not read PSS of %v", pids)
	}
	return total, nil
}

// dovecotPIDs lists every process of the (only) Dovecot instance.
func dovecotPIDs() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if exe == "/usr/sbin/dovecot" || strings.HasPrefix(exe, "/usr/lib/dovecot/") {
			pids = append(pids, pid)
		}
	}
	return pids
}
