package server

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limiter counts open connections per remote IP and in total, over every
// listener it wraps (DESIGN.md §5). It is safe for concurrent use; one
// Limiter is shared by all listeners of a Server.
type Limiter struct {
	perIP, total int // 0 = no cap

	mu    sync.Mutex
	open  map[netip.Addr]int
	count int

	// rejecting counts goroutines busy telling a refused client why; past
	// maxRejecting, refused connections are closed without a word.
	rejecting atomic.Int32
}

// maxRejecting bounds concurrent polite rejections during a flood.
const maxRejecting = 64

// rejectTimeout bounds the write of a rejection message.
const rejectTimeout = 2 * time.Second

// NewLimiter returns a Limiter allowing perIP connections per address (per
// /64 network for IPv6) and total connections overall; 0 means no cap.
func NewLimiter(perIP, total int) *Limiter {
	return &Limiter{perIP: perIP, total: total, open: map[netip.Addr]int{}}
}

// acquire counts a new connection from addr; it reports false (counting
// nothing) when a cap is reached. Connections without an IP (unix sockets)
// count only towards the total.
func (l *Limiter) acquire(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total > 0 && l.count >= l.total {
		return false
	}
	if addr.IsValid() {
		if l.perIP > 0 && l.open[addr] >= l.perIP {
			return false
		}
		l.open[addr]++
	}
	l.count++
	return true
}

func (l *Limiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count--
	if addr.IsValid() {
		if l.open[addr] <= 1 {
			delete(l.open, addr)
		} else {
			l.open[addr]--
		}
	}
}

// Open returns the number of connections counted now.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Listen wraps inner so that its connections count against l. A connection
// over a cap is not returned by Accept: it gets reject (a protocol greeting
// saying why, e.g. "* BYE ..." for IMAP; "" for none) written with a short
// deadline and is closed. The returned connections release their slot when
// closed.
func (l *Limiter) Listen(inner net.Listener, reject string) net.Listener {
	return &limitListener{Listener: inner, lim: l, reject: []byte(reject)}
}

type limitListener struct {
	net.Listener
	lim    *Limiter
	reject []byte
}

// Accept returns the next connection within the caps, refusing the others
// on the way without blocking on them.
func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := limitKey(remoteIP(c.RemoteAddr()))
		if ll.lim.acquire(addr) {
			return &limitedConn{Conn: c, release: func() { ll.lim.release(addr) }}, nil
		}
		ll.refuse(c)
	}
}

// refuse tells a client it is over a cap and closes the connection, in its
// own goroutine so Accept goes on.
func (ll *limitListener) refuse(c net.Conn) {
	if len(ll.reject) == 0 || ll.lim.rejecting.Add(1) > maxRejecting {
		if len(ll.reject) > 0 {
			ll.lim.rejecting.Add(-1)
		}
		_ = c.Close()
		return
	}
	go func() {
		defer ll.lim.rejecting.Add(-1)
		_ = c.SetWriteDeadline(time.Now().Add(rejectTimeout))
		_, _ = c.Write(ll.reject)
		_ = c.Close()
	}()
}

// limitedConn releases its Limiter slot on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SyscallConn gives the connection's descriptor (the IMAP server watches
// idling connections with its own poller).
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// limitKey is the address a connection counts against: the IPv4 address,
// or the /64 network of an IPv6 address (one subscriber usually holds a
// whole /64, so counting single IPv6 addresses would be no limit at all).
func limitKey(a netip.Addr) netip.Addr {
	if a.Is6() && !a.IsLoopback() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// remoteIP returns the IP of a TCP address, or the zero Addr (unix
// sockets).
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
