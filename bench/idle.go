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
	"syscall"
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

// idler is one IMAP connection in IDLE.
type idler struct {
	c net.Conn
	r *bufio.Reader
}

func idleRound(ctx context.Context, t *target, n int) (idleResult, error) {
	var res idleResult
	before, err := pssKiB(t.pids())
	if err != nil {
		return res, err
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

	lat, err := waitForExists(ctx, t, idlers)
	if err != nil {
		return res, err
	}
	sort.Float64s(lat)
	res.p50 = lat[len(lat)/2]
	res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	return res, nil
}

// idleWait bounds the wait for EXISTS; a connection that has not seen it
// by then counts as idleWait (and is reported) rather than failing the run.
const idleWait = 60 * time.Second

// waitForExists delivers one message and returns, per connection, the
// milliseconds from the start of the delivery until its EXISTS arrived.
//
// One loop waits on an epoll instance over all the connections and reads
// what each has received as soon as the kernel reports it readable; the
// time a connection's EXISTS line is complete is its arrival. (Until
// 2026-12-03 each connection had a goroutine blocked in Read; on a 2-core
// machine those 10,000 goroutines competed with the server for the CPUs,
// and the figures included their own scheduling delay.) Other untagged
// responses before the EXISTS (Dovecot may say "* NO Mailbox is locked")
// are read past.
func waitForExists(ctx context.Context, t *target, idlers []idler) ([]float64, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(ep)
	fds := make([]int, len(idlers))
	const watch = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT
	for i, idl := range idlers {
		if idl.r.Buffered() > 0 {
			return nil, fmt.Errorf("IDLE connection %d has unread input before the delivery", i)
		}
		fd, err := connFD(idl.c)
		if err != nil {
			return nil, err
		}
		// Take the socket away from Go's poller: a second descriptor
		// keeps it open, and closing the net.Conn unregisters it there.
		// Otherwise every update would also wake the runtime's own epoll
		// thread in this process, a cost of the harness, not the server.
		dup, err := syscall.Dup(fd)
		if err != nil {
			return nil, fmt.Errorf("dup of IDLE connection %d: %w", i, err)
		}
		idl.c.Close()
		fds[i] = dup
		defer syscall.Close(dup)
		ev := syscall.EpollEvent{Events: watch, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, dup, &ev); err != nil {
			return nil, fmt.Errorf("epoll_ctl add: %w", err)
		}
	}
	lat := make([]float64, len(idlers))
	for i := range lat {
		lat[i] = idleWait.Seconds() * 1000
	}
	got := make([][]byte, len(idlers)) // what each connection received so far
	time.Sleep(200 * time.Millisecond) // let the servers settle
	start := time.Now()
	delivered := make(chan error, 1)
	go func() { delivered <- deliverMany(ctx, t.lmtp, "idle", 1, 2<<10, 1) }()
	events := make([]syscall.EpollEvent, 1024)
	buf := make([]byte, 4096)
	missed := len(idlers)
	for missed > 0 && time.Since(start) < idleWait {
		n, err := syscall.EpollWait(ep, events, 100)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("epoll_wait: %w", err)
		}
		at := float64(time.Since(start).Nanoseconds()) / 1e6
		for _, ev := range events[:n] {
			i := int(ev.Fd)
			// The descriptor is non-blocking (the flag belongs to the
			// socket, which Go's poller set up): take what is there.
			k, err := syscall.Read(fds[i], buf)
			if k > 0 {
				got[i] = append(got[i], buf[:k]...)
			}
			if hasExists(got[i]) {
				lat[i] = at
				missed--
				continue
			}
			if k == 0 && err == nil {
				return nil, fmt.Errorf("IDLE connection %d closed by the server: %q", i, got[i])
			}
			if err != nil && err != syscall.EAGAIN {
				return nil, fmt.Errorf("IDLE connection %d: %w", i, err)
			}
			again := syscall.EpollEvent{Events: watch, Fd: int32(i)}
			if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_MOD, fds[i], &again); err != nil {
				return nil, fmt.Errorf("epoll_ctl: %w", err)
			}
		}
	}
	if err := <-delivered; err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if missed > 0 {
		logf("  %s: %d of %d IDLE connections saw no EXISTS within %v", t.name, missed, len(idlers), idleWait)
	}
	return lat, nil
}

// hasExists reports whether b holds a complete untagged EXISTS line.
func hasExists(b []byte) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		if line := bytes.TrimRight(b[:i], "\r"); bytes.HasPrefix(line, []byte("* ")) && bytes.HasSuffix(line, []byte(" EXISTS")) {
			return true
		}
		b = b[i+1:]
	}
	return false
}

// connFD is the descriptor of a TCP connection.
func connFD(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("%T has no descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return 0, err
	}
	return fd, nil
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
