package imapserver

import (
	"crypto/tls"
	"net"
	"runtime"
	"syscall"
	"time"
)

// Parked IDLE. A session waiting in IDLE for the client's DONE needs no
// goroutine: park hands its connection to the server's idlePoller (one
// epoll instance for all of them) and the session's goroutine returns.
// While parked:
//   - an update from the hub (wakeParked) is queued for one of a few
//     updater goroutines, which takes parkMu and sends the untagged
//     responses, instead of interrupting a blocked Read through its
//     deadline and arming it again (two timer operations, a read(2) and
//     a park per session per delivery);
//   - input from the client, the autologout time, Shutdown, or a failed
//     update resume the session (unpark) on a fresh goroutine, which goes
//     on in idleRead exactly as a session that was never parked.
// parkMu makes the two exclusive: an update in progress finishes before
// the session resumes.

// parkedQueue bounds the parked sessions waiting for an updater.
const parkedQueue = 16384

// updaters is how many goroutines send parked sessions' updates: enough
// to keep the CPUs busy while some wait on slow clients' writes.
func updaters() int { return 4*runtime.GOMAXPROCS(0) + 4 }

// poller is the server's idlePoller, started on first use; nil when
// this system has none (park then declines).
func (srv *Server) poller() *idlePoller {
	srv.pollOnce.Do(func() {
		if srv.opts.idleGoroutines {
			return
		}
		p, err := newIdlePoller(srv.done)
		if err != nil {
			srv.log.Debug("IDLE poller unavailable; idling sessions keep a goroutine", "err", err)
			return
		}
		srv.idlePoll = p
		srv.parkedUpdates = make(chan *session, parkedQueue)
		for range updaters() {
			go srv.updater()
		}
	})
	return srv.idlePoll
}

// park hands the session, in IDLE after cmdIdle's handoff, to the poller.
// It reports false when it cannot (no poller, no descriptor, input already
// buffered, shutting down); the caller then continues on a goroutine.
func (s *session) park(c *command) bool {
	p := s.srv.poller()
	if p == nil || s.srv.closing.Load() || s.deflate != nil {
		return false
	}
	fd, ok := connFD(s.rawConn)
	if !ok || s.inputBuffered() {
		return false
	}
	if _, isTLS := s.rawConn.(*tls.Conn); !s.direct && !isTLS && s.out.w == s.rawConn && nonblocking(fd) {
		// Cleartext (no STARTTLS, no IMAPS, no COMPRESS) on a
		// non-blocking socket: updates may skip the layers (see
		// directWriter).
		s.direct = true
	}
	s.releaseBuffers()
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if p.add(fd, s) != nil {
		return false
	}
	// Input arriving from here on resumes the session once this returns
	// and parkMu is free.
	if s.sub != nil {
		s.sub.SetWake(s.wakeParked)
	}
	s.parked, s.parkFD, s.parkCmd = true, fd, c
	s.parkTimer = time.AfterFunc(time.Until(s.idleDeadline), func() { s.unpark(nil) })
	return true
}

// inputBuffered reports whether client input is already waiting above
// the socket, where the poller would not see it: in the session's own
// buffers, or decrypted (or received but not yet decrypted) inside the
// TLS connection. The TLS probe is a read against a deadline in the past,
// which fails before reaching the socket and leaves the TLS state intact.
// An octet it does find is kept for idleRead.
func (s *session) inputBuffered() bool {
	if len(s.src.pre) > 0 || len(s.idlePre) > 0 || (s.br != nil && s.br.Buffered() > 0) {
		return true
	}
	if _, ok := s.conn.(*tls.Conn); !ok {
		return false
	}
	s.rawConn.SetReadDeadline(pastDeadline)
	n, _ := s.src.r.Read(s.one[:])
	if n > 0 {
		s.idlePre = append(s.idlePre, s.one[0])
		return true
	}
	return false
}

// unpark resumes a parked session on a fresh goroutine; err, when not
// nil, is an update that could not be sent and ends the session. Only the
// first of several concurrent calls resumes it.
func (s *session) unpark(err error) {
	s.parkMu.Lock()
	if !s.parked {
		s.parkMu.Unlock()
		return
	}
	s.parked = false
	c := s.parkCmd
	s.parkCmd = nil
	s.parkErr = err
	s.parkMu.Unlock()
	s.parkTimer.Stop()
	s.srv.idlePoll.remove(s.parkFD, s)
	go s.serve(c)
}

// wakeParked is the hub's wake for a parked session. It runs on the
// publisher's goroutine, so it only queues the session for an updater
// (one update at a time per session; woken makes the running one go
// round again). When the queue is full, as when slow clients hold the
// updaters in their writes, the update gets a goroutine of its own.
func (s *session) wakeParked() {
	s.woken.Store(true)
	if s.updating.CompareAndSwap(false, true) {
		select {
		case s.srv.parkedUpdates <- s:
		default:
			go s.parkedUpdate()
		}
	}
}

// updater sends parked sessions' updates from the queue: a few long-lived
// goroutines, whose stacks have grown once, instead of a fresh goroutine
// per session and delivery.
func (srv *Server) updater() {
	for {
		select {
		case s := <-srv.parkedUpdates:
			s.parkedUpdate()
		case <-srv.done:
			return
		}
	}
}

// parkedUpdate sends a parked session's updates. A session resumed
// meanwhile is left alone: idleRead sees woken and sends them itself.
func (s *session) parkedUpdate() {
	for {
		s.parkMu.Lock()
		if !s.parked {
			s.parkMu.Unlock()
			s.updating.Store(false)
			return
		}
		s.woken.Store(false)
		err := s.idleUpdate()
		s.parkMu.Unlock()
		s.updating.Store(false)
		if err != nil {
			s.unpark(err)
			return
		}
		if !s.woken.Load() || !s.updating.CompareAndSwap(false, true) {
			return
		}
	}
}

// connFD returns the descriptor of a TCP connection, possibly wrapped by
// the listener's connection limiter or by TLS (IMAPS).
func connFD(c net.Conn) (int, bool) {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = w.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

// directWriter sends a parked cleartext session's update with one
// write(2) on the descriptor, as a raw system call (writeNonblocking),
// not through the deadline wrapper, the listener's connection wrapper,
// net.Conn and the descriptor's lock. In perf profiles of deliveries to
// 10,000 parked sessions, the code between the output buffer and write(2)
// (whose objects, after a long IDLE, are rarely in a CPU cache) went from
// about 10% of the server's samples to 7% with RawConn.Write (most of
// what was left: the descriptor's lock and the poller's bookkeeping
// inside it), and the runtime's hand-offs around each syscall.Write
// (sysmon retaking the processor, waking another thread) from 6.6% to
// 1.3%; for what going around RawConn saved, see docs/benchmarks.md.
//
// Writing to the bare descriptor number is safe only while it cannot be
// closed (and the number reused by another connection): the writer is
// used under parkMu while the session is parked, and a parked session's
// connection is closed only by end(), after unpark has taken parkMu, or
// by Shutdown's forced close (closeUnderPark), which takes it too. The
// socket is non-blocking: what it cannot take at once goes the usual way
// (the session's deadline writer), which waits for the client against
// the write deadline.
//
// It is the session itself under another name (no allocation of its own,
// whose line would be one more miss per session and delivery); the
// descriptor is parkFD.
type directWriter session

func (d *directWriter) Write(b []byte) (int, error) {
	s := (*session)(d)
	n, _ := writeNonblocking(uintptr(s.parkFD), b)
	n = max(n, 0)
	if n == len(b) {
		return n, nil
	}
	// The socket is full (EAGAIN), or the call was interrupted or
	// failed: the usual way waits for room, or reports the failure.
	s.srv.parkedWriteWaits.Add(1)
	m, err := s.out.Write(b[n:])
	return n + m, err
}

// closeUnderPark closes the connection for Shutdown once its grace period
// is over. An update being sent to a parked session writes to the bare
// descriptor (directWriter), so the close waits for it under parkMu; the
// write deadline in the past first ends one that waits for a slow client.
func (s *session) closeUnderPark() {
	s.rawConn.SetWriteDeadline(pastDeadline)
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	s.rawConn.Close()
}
