package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	// cpuMs is the time the server ran on a CPU (all its processes)
	// from just before the delivery until the last EXISTS arrived or the
	// wait ended.
	cpuMs float64
	// floorP99 is the p99 of the write(2)-only floor (idlefloor.go)
	// measured right after, on the same machine in the same state.
	floorP99 float64
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
		{name: fmt.Sprintf("IMAP IDLE: %d conns, server CPU time for one wake-up", conns), unit: "ms", limit: time.Minute, run: pick(func(r idleResult) float64 { return r.cpuMs }), follower: true},
		{name: fmt.Sprintf("IMAP IDLE: %d conns, wake-up p99 ÷ write(2)-only floor", conns), unit: "×", limit: time.Minute, run: pick(func(r idleResult) float64 { return r.p99 / r.floorP99 }), follower: true,
			note: "the floor: a process that only writes the EXISTS line to each of as many sockets, read by the same harness, measured right after the server's round"},
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

	socks, err := detachIdlers(idlers)
	if err != nil {
		return res, err
	}
	defer socks.close()
	var p50s, p99s, cpus, firsts, harness []float64
	for range idleWakes {
		cpu0, err := cpuTimes(t.pids())
		if err != nil {
			return res, err
		}
		delivered := make(chan error, 1)
		var cpu1 map[int]int64
		var cpuErr error
		lat, err := socks.wake(func() {
			go func() { delivered <- deliverMany(ctx, t.lmtp, "idle", 1, 2<<10, 1) }()
		}, func() {
			cpu1, cpuErr = cpuTimes(t.pids())
		})
		if err != nil {
			return res, err
		}
		if cpuErr != nil {
			return res, cpuErr
		}
		if err := <-delivered; err != nil {
			return res, fmt.Errorf("delivery: %w", err)
		}
		p50, p99 := percentiles(lat)
		p50s, p99s, cpus = append(p50s, p50), append(p99s, p99), append(cpus, cpuSpentMs(cpu0, cpu1))
		firsts = append(firsts, lat[0]) // sorted by percentiles
		harness = append(harness, socks.cpuMs)
		if missed := countAtLeast(lat, idleWait); missed > 0 {
			logf("  %s: %d of %d IDLE connections saw no EXISTS within %v; no further wake-ups", t.name, missed, len(idlers), idleWait)
			break
		}
	}
	logf("  %s: %d wake-ups, first EXISTS %s ms, p99 %s ms, server CPU %s ms, harness CPU %s ms", t.name, len(p99s), joinMs(firsts), joinMs(p99s), joinMs(cpus), joinMs(harness))
	res.p50, res.p99, res.cpuMs = median(p50s), median(p99s), median(cpus)
	socks.close() // the floor needs as many descriptors again
	// Hanging up 10,000 connections keeps Dovecot busy for a while (a
	// process each exits); the floor must not run beside that. In the run
	// of 2026-12-07 03:24 the floor's writer, starved, left connection 190
	// unaccepted for 5 s and the run failed.
	if d, err := waitMachineQuiet(ctx, 2*time.Minute); err != nil {
		return res, err
	} else if d > time.Second {
		logf("  the machine was busy for %v after %s's connections closed", d.Round(100*time.Millisecond), t.name)
	}
	floor, err := idleFloor(ctx, n)
	if err != nil {
		return res, fmt.Errorf("write(2)-only floor: %w", err)
	}
	logf("  write(2)-only floor after %s: p99 %s ms", t.name, joinMs(floor))
	res.floorP99 = median(floor)
	return res, nil
}

// idleWakes is how many deliveries each IDLE round times: the set-up
// (thousands of logins) costs far more than a wake-up, and on a shared
// machine one wake-up's tail moves by a factor of two from one to the
// next; each row reports the median over the wake-ups.
const idleWakes = 5

// joinMs lists values for the log.
func joinMs(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}

// percentiles returns the median and the 99th percentile of ms (sorting it).
func percentiles(ms []float64) (p50, p99 float64) {
	sort.Float64s(ms)
	return ms[len(ms)/2], ms[min(len(ms)-1, len(ms)*99/100)]
}

// countAtLeast counts the latencies that reached the wait's bound.
func countAtLeast(ms []float64, bound time.Duration) int {
	n := 0
	for _, v := range ms {
		if v >= float64(bound.Milliseconds()) {
			n++
		}
	}
	return n
}

// idleWait bounds the wait for EXISTS; a connection that has not seen it
// by then counts as idleWait (and is reported) rather than failing the run.
const idleWait = 60 * time.Second

// idleSockets are the IDLE connections of a round, taken off Go's
// poller: a second descriptor keeps each socket open, and closing the
// net.Conn unregisters it there. Otherwise every update would also wake
// the runtime's own epoll thread in this process, a cost of the harness,
// not of the server.
type idleSockets struct {
	fds []int
	buf []byte
	// cpuMs is the CPU time this process (the harness: the reading loop,
	// and for a server the LMTP client) spent in the last wake.
	cpuMs float64
}

func detachIdlers(idlers []idler) (*idleSockets, error) {
	s := &idleSockets{buf: make([]byte, 4096)}
	for i, idl := range idlers {
		if idl.r.Buffered() > 0 {
			s.close()
			return nil, fmt.Errorf("IDLE connection %d has unread input before the delivery", i)
		}
		fd, err := connFD(idl.c)
		if err == nil {
			fd, err = syscall.Dup(fd)
		}
		if err != nil {
			s.close()
			return nil, fmt.Errorf("IDLE connection %d: %w", i, err)
		}
		idl.c.Close()
		s.fds = append(s.fds, fd)
	}
	return s, nil
}

// close closes the sockets: the servers see the clients hang up.
func (s *idleSockets) close() {
	for _, fd := range s.fds {
		syscall.Close(fd)
	}
	s.fds = nil
}

// wake calls trigger (which starts a delivery and returns at once) and
// returns, per connection, the milliseconds from the trigger until its
// EXISTS arrived. It calls done as soon as the wait is over.
//
// One loop waits on an epoll instance over all the connections and reads
// what each has received as soon as the kernel reports it readable; the
// time a connection's EXISTS line is complete is its arrival. (Until
// 2026-12-03 each connection had a goroutine blocked in Read; on a 2-core
// machine those 10,000 goroutines competed with the server for the CPUs,
// and the figures included their own scheduling delay.) Other untagged
// responses before the EXISTS (Dovecot may say "* NO Mailbox is locked")
// are read past, and so is what the previous wake-up left unread (such
// as the RECENT line after an EXISTS).
func (s *idleSockets) wake(trigger, done func()) ([]float64, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(ep)
	const watch = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT
	for i, fd := range s.fds {
		ev := syscall.EpollEvent{Events: watch, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, fmt.Errorf("epoll_ctl add: %w", err)
		}
	}
	lat := make([]float64, len(s.fds))
	for i := range lat {
		lat[i] = idleWait.Seconds() * 1000
	}
	got := make([][]byte, len(s.fds))  // what each connection received so far
	time.Sleep(200 * time.Millisecond) // let the servers settle
	for i, fd := range s.fds {
		// The descriptors are non-blocking (the flag belongs to the
		// sockets, which Go's poller set up): take what is left.
		for {
			k, err := syscall.Read(fd, s.buf)
			if k == 0 && err == nil {
				return nil, fmt.Errorf("IDLE connection %d closed by the server", i)
			}
			if k <= 0 {
				break
			}
		}
	}
	var ru0, ru1 syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru0); err != nil {
		return nil, err
	}
	start := time.Now()
	trigger()
	events := make([]syscall.EpollEvent, 1024)
	missed := len(s.fds)
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
			k, err := syscall.Read(s.fds[i], s.buf)
			if k > 0 {
				got[i] = append(got[i], s.buf[:k]...)
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
			if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_MOD, s.fds[i], &again); err != nil {
				return nil, fmt.Errorf("epoll_ctl: %w", err)
			}
		}
	}
	done()
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru1); err != nil {
		return nil, err
	}
	s.cpuMs = float64(rusageNs(ru1)-rusageNs(ru0)) / 1e6
	return lat, nil
}

// rusageNs is the user and system time in r.
func rusageNs(r syscall.Rusage) int64 {
	return r.Utime.Nano() + r.Stime.Nano()
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

// cpuTimes returns, per process, the time its threads ran on a CPU, in
// ns, from the scheduler's own account (/proc/PID/task/TID/schedstat; the
// user and system times of /proc/PID/stat come in 10 ms ticks). A process
// that has exited meanwhile is left out.
func cpuTimes(pids []int) (map[int]int64, error) {
	ns := make(map[int]int64, len(pids))
	for _, pid := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var sum int64
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue // the thread ended
			}
			if err != nil {
				return nil, err
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				return nil, fmt.Errorf("/proc/%d/task/%s/schedstat is empty", pid, task.Name())
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/task/%s/schedstat: %w", pid, task.Name(), err)
			}
			sum += v
		}
		ns[pid] = sum
	}
	return ns, nil
}

// cpuSpentMs is the CPU time, in ms, processes ran between two cpuTimes:
// the growth of those in both, all of those that started in between
// (threads that ended in between are not counted, nor processes that
// exited).
func cpuSpentMs(before, after map[int]int64) float64 {
	var ns int64
	for pid, v := range after {
		ns += v - before[pid]
	}
	return float64(ns) / 1e6
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

// waitMachineQuiet waits until the CPUs are mostly idle (at least 80% over
// 250 ms, from /proc/stat), at most max; it returns how long it waited.
// Where /proc/stat cannot be read it returns at once.
func waitMachineQuiet(ctx context.Context, max time.Duration) (time.Duration, error) {
	start := time.Now()
	idle0, total0, err := cpuStat()
	if err != nil {
		return 0, nil
	}
	for time.Since(start) < max {
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		idle1, total1, err := cpuStat()
		if err != nil {
			return time.Since(start), nil
		}
		if total1 > total0 && float64(idle1-idle0) >= 0.8*float64(total1-total0) {
			return time.Since(start), nil
		}
		idle0, total0 = idle1, total1
	}
	return time.Since(start), nil
}

// cpuStat returns the idle (idle + iowait) and busy-or-idle jiffies of
// all CPUs, leaving out the time the host took (steal).
func cpuStat() (idle, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq: steal (the host's) and
	// guest (already in user) are left out.
	for i, v := range f[1:min(len(f), 8)] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total, nil
}
