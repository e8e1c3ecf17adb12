//go:build linux

package imapserver

import (
	"sync"
	"syscall"
	"unsafe"
)

// idlePoller watches the connections of parked IDLE sessions (park.go)
// for input with one epoll instance, so that an idling connection needs
// no goroutine of its own. Registrations are one-shot: the first event
// resumes the session, which then reads on its own goroutine again.
type idlePoller struct {
	epfd int
	mu   sync.Mutex
	// parked maps the id carried in each registration to its session.
	parked map[uint64]*session
	dead   bool // run has stopped; add refuses
	done   <-chan struct{}
}

// pollWaitMillis bounds one epoll_wait, so that the poller notices the
// server's shutdown.
const pollWaitMillis = 1000

func newIdlePoller(done <-chan struct{}) (*idlePoller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &idlePoller{epfd: fd, parked: make(map[uint64]*session), done: done}
	go p.run()
	return p, nil
}

// add watches fd for input (or hang-up) on behalf of s.
func (p *idlePoller) add(fd int, s *session) error {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return syscall.EBADF
	}
	p.parked[s.id] = s
	p.mu.Unlock()
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(s.id)),
		Pad:    int32(uint32(s.id >> 32)),
	}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.parked, s.id)
		p.mu.Unlock()
		return err
	}
	return nil
}

// remove stops watching fd for s; it runs before the session touches the
// connection again, so a later registration of a reused descriptor
// number is never confused with this one.
func (p *idlePoller) remove(fd int, s *session) {
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	p.mu.Lock()
	delete(p.parked, s.id)
	p.mu.Unlock()
}

func (p *idlePoller) run() {
	defer p.stop()
	events := make([]syscall.EpollEvent, 256)
	for {
		select {
		case <-p.done:
			return
		default:
		}
		n, err := syscall.EpollWait(p.epfd, events, pollWaitMillis)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			s := p.parked[id]
			p.mu.Unlock()
			if s != nil {
				// Not here: an update being written to a slow
				// client holds parkMu, and the poller serves all.
				go s.unpark(nil)
			}
		}
	}
}

// stop ends the poller (shutdown, or an epoll failure): sessions still
// parked go back to reading on goroutines of their own.
func (p *idlePoller) stop() {
	p.mu.Lock()
	p.dead = true
	left := make([]*session, 0, len(p.parked))
	for _, s := range p.parked {
		left = append(left, s)
	}
	p.mu.Unlock()
	for _, s := range left {
		s.unpark(nil) // the poller is ending: waiting here costs nothing
	}
	syscall.Close(p.epfd)
}

// count is how many sessions are parked (tests).
func (p *idlePoller) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// nonblocking reports whether fd is in non-blocking mode, as Go's poller
// leaves sockets (unless something called File on the connection), which
// writeNonblocking needs.
func nonblocking(fd int) bool {
	flags, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	return errno == 0 && flags&syscall.O_NONBLOCK != 0
}

// writeNonblocking is write(2) on a non-blocking descriptor as a raw
// system call: it returns as soon as the kernel has queued what fits, so
// the goroutine need not tell the scheduler that it may block, as
// syscall.Write does. While thousands of updates are sent, those calls
// had the runtime's monitor take the processor from the writing thread
// and wake another, over and over.
func writeNonblocking(fd uintptr, b []byte) (int, error) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
