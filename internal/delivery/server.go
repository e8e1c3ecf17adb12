// Package delivery takes final delivery of mail into the store: an LMTP
// server (RFC 2033), an optional plain SMTP listener for small sites that
// accepts mail for local accounts only, and the local delivery agent behind
// `postern deliver`.
//
// The wire protocol is go-smtp's; this package supplies the backend. One
// delivery is:
//
//  1. MAIL FROM records the reverse-path (RFC 5321 §4.1.1.2).
//  2. Each RCPT TO is resolved to an account and its INBOX
//     (resolve.go); unknown users, foreign domains and full accounts are
//     refused right there, so the client learns early.
//  3. DATA streams the body into the store: Store.Stage writes it durably
//     with per-recipient trace headers (Return-Path, Delivered-To) in front,
//     and one Store.Append adds it to every recipient's INBOX (deliver.go).
//  4. LMTP answers once per accepted recipient (RFC 2033 §4.2); SMTP once
//     for the whole transaction. A 250 is sent only after Append returned
//     without error for that recipient, so the message is durable.
//
// Nothing is written to a mailbox before Append; a client that drops in the
// middle of DATA leaves at most an unreferenced staged blob, which `postern
// check` collects.
package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postern/postern/internal/store"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultMaxMessageSize = 50 << 20
	// DefaultReadTimeout bounds the wait for a command line and for each
	// read during DATA (RFC 5321 §4.5.3.2 suggests at least 5 minutes).
	DefaultReadTimeout  = 5 * time.Minute
	DefaultWriteTimeout = time.Minute
	// maxRecipients bounds RCPT commands per transaction; more get
	// 452 4.5.3 (RFC 5321 §4.5.3.1.10) and the client retries them later.
	maxRecipients = 1000
	// maxLineLength bounds a line, in commands and in the message body
	// alike (go-smtp applies one limit to both). Commands are held in
	// memory whole, so it is bounded; it is far above RFC 5321's 1000
	// octets because MTAs such as Postfix rebuild long body lines on
	// delivery. Longer body lines get 554 5.6.0 and the connection closes.
	maxLineLength = 1 << 20
	// shutdownPoll is how often Shutdown looks for connections that went
	// idle so it can close them.
	shutdownPoll = 20 * time.Millisecond
)

// Options configure a Server. The zero value of every field has a default.
type Options struct {
	Store  store.Store
	Logger *slog.Logger
	// Hostname is announced in the greeting; default os.Hostname().
	Hostname string
	// MaxMessageSize bounds the message as sent by the client (default
	// 50 MiB); larger messages get 552 5.3.4. It is advertised in SIZE.
	MaxMessageSize int64
	// Domains are the local mail domains. Empty means any domain is
	// accepted for local accounts (LMTP behind an MTA that already routed
	// the mail here).
	Domains []string
	// ReadTimeout bounds the wait for each command and each read of the
	// message body; WriteTimeout bounds each reply.
	ReadTimeout, WriteTimeout time.Duration
	// TLSConfig enables STARTTLS (RFC 3207) on the SMTP listener; nil
	// means none. LMTP never offers it: it runs on a unix socket or
	// loopback behind the MTA (RFC 2033 §5).
	TLSConfig *tls.Config
}

// Server serves LMTP and SMTP delivery sessions. Create it with New; it is
// safe for concurrent use, and ServeLMTP / ServeSMTP may run on several
// listeners at once.
//
// Lifecycle: New → ServeLMTP/ServeSMTP (each blocks until its listener
// fails or Shutdown) → Shutdown.
type Server struct {
	opts    Options
	log     *slog.Logger
	domains map[string]bool
	lmtp    *smtp.Server
	smtp    *smtp.Server

	// ctx is the parent of every store call; cancelled only when Shutdown
	// gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	// spoolDir holds the temporary copy of a multi-recipient body; "" is
	// the system's temporary directory. Tests point it elsewhere.
	spoolDir string

	rcpts rcptCache

	nextID   atomic.Uint64
	inflight atomic.Int64 // deliveries inside Stage/Append

	mu      sync.Mutex
	closing bool
	conns   map[*trackedConn]struct{}
}

// New builds a server from opts, filling defaults.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "localhost"
		}
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		domains: domainSet(opts.Domains),
		conns:   make(map[*trackedConn]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.lmtp = s.newProtocolServer(true)
	s.smtp = s.newProtocolServer(false)
	return s
}

func (s *Server) newProtocolServer(lmtp bool) *smtp.Server {
	ps := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return s.newSession(c, lmtp)
	}))
	ps.LMTP = lmtp
	ps.Domain = s.opts.Hostname
	ps.MaxMessageBytes = s.opts.MaxMessageSize
	ps.MaxRecipients = maxRecipients
	ps.MaxLineLength = maxLineLength
	ps.ReadTimeout = s.opts.ReadTimeout
	ps.WriteTimeout = s.opts.WriteTimeout
	// RFC 6531: addresses and headers may be UTF-8; the store keeps bytes.
	ps.EnableSMTPUTF8 = true
	if !lmtp {
		// go-smtp drops what the client pipelined behind STARTTLS (a
		// fresh reader over the TLS connection) and forgets EHLO.
		ps.TLSConfig = s.opts.TLSConfig
	}
	proto := "smtp"
	if lmtp {
		proto = "lmtp"
	}
	ps.ErrorLog = wireLogger{log: s.log.With("proto", proto)}
	return ps
}

// ServeLMTP accepts LMTP connections on l (TCP or unix socket) until l
// fails or Shutdown is called. It returns nil after Shutdown.
func (s *Server) ServeLMTP(l net.Listener) error {
	return s.serve(s.lmtp, l)
}

// ServeSMTP accepts plain SMTP connections on l. Mail is accepted for local
// accounts only; anything else is refused as relaying (550 5.7.1). It
// returns nil after Shutdown.
func (s *Server) ServeSMTP(l net.Listener) error {
	return s.serve(s.smtp, l)
}

func (s *Server) serve(ps *smtp.Server, l net.Listener) error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		l.Close()
		return nil
	}
	err := ps.Serve(&trackingListener{Listener: l, srv: s})
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, closes idle ones at once and lets
// transactions in progress finish. New MAIL commands get 421. When ctx
// expires first, the remaining connections are closed: a delivery whose
// body was not complete stores nothing (the client sees the connection
// drop, a temporary failure), and Shutdown returns ctx.Err() after store
// calls in progress have returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()

	// The protocol servers close their listeners at once, then wait for
	// their connections.
	done := make(chan error, 2)
	for _, ps := range []*smtp.Server{s.lmtp, s.smtp} {
		go func() { done <- ps.Shutdown(ctx) }()
	}
	var firstErr error
	timedOut := false
	pending := 2
	tick := time.NewTicker(shutdownPoll)
	defer tick.Stop()
	for pending > 0 && !timedOut {
		s.closeIdle()
		select {
		case err := <-done:
			pending--
			switch {
			case err == nil, errors.Is(err, smtp.ErrServerClosed):
			case errors.Is(err, ctx.Err()) && ctx.Err() != nil:
				timedOut = true
			case firstErr == nil:
				firstErr = err
			}
		case <-tick.C:
		case <-ctx.Done():
			timedOut = true
		}
	}
	if timedOut {
		s.closeAll()
		s.cancel()
		s.waitInflight(5 * time.Second)
		return ctx.Err()
	}
	s.waitInflight(5 * time.Second)
	return firstErr
}

// waitInflight waits for store calls in progress, at most limit. (A
// counter polled rather than a WaitGroup: deliveries may still start while
// it waits.)
func (s *Server) waitInflight(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for s.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			s.log.Warn("delivery shutdown: store calls still running", "count", s.inflight.Load())
			return
		}
		time.Sleep(shutdownPoll)
	}
}

// closeIdle closes connections with no transaction in progress.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if !c.busy.Load() {
			c.Conn.Close()
		}
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Conn.Close()
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// trackingListener registers every accepted connection with the server so
// Shutdown can close idle ones (go-smtp's own Shutdown waits for idle
// connections forever).
type trackingListener struct {
	net.Listener
	srv *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, srv: l.srv, id: l.srv.nextID.Add(1)}
	l.srv.mu.Lock()
	closing := l.srv.closing
	if !closing {
		l.srv.conns[tc] = struct{}{}
	}
	l.srv.mu.Unlock()
	if closing {
		// Accepted in the instant Shutdown closed the listener.
		c.Close()
	}
	return tc, nil
}

// trackedConn is an accepted connection. busy is true while a transaction
// (MAIL … end of DATA) is in progress; the session sets it.
//
// Reads go through a pooled readAhead-octet buffer: go-smtp reads through a
// 4 KiB bufio.Reader, so a 100 KiB message would otherwise cost some 25
// read system calls, which on virtual machines cost more than parsing the
// bytes. The buffer is taken when a read needs the network and given back
// as soon as it is drained, so an idle connection holds none. Everything
// above (go-smtp, TLS after STARTTLS) reads through it, so no byte is
// skipped or reordered.
type trackedConn struct {
	net.Conn
	srv        *Server
	id         uint64
	busy       atomic.Bool
	once       sync.Once
	buf        *[]byte // pooled; buf[start:end] not yet read
	start, end int
}

// readAhead is the size of a connection's read buffer.
const readAhead = 64 << 10

var readAheadPool = sync.Pool{New: func() any { b := make([]byte, readAhead); return &b }}

// Read serves buffered octets first; only one goroutine reads a
// connection at a time (go-smtp's session loop).
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.buf == nil {
		if len(p) >= readAhead {
			return c.Conn.Read(p)
		}
		c.buf = readAheadPool.Get().(*[]byte)
		n, err := c.Conn.Read(*c.buf)
		if n == 0 {
			readAheadPool.Put(c.buf)
			c.buf = nil
			return 0, err
		}
		c.start, c.end = 0, n
	}
	n := copy(p, (*c.buf)[c.start:c.end])
	c.start += n
	if c.start == c.end {
		readAheadPool.Put(c.buf)
		c.buf = nil
	}
	return n, nil
}

// Close closes the connection and forgets it. Safe to call more than once.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
	})
	return err
}

// wireLogger adapts go-smtp's Printf logger to slog. go-smtp reports
// connection-level errors (resets, panics) through it.
type wireLogger struct{ log *slog.Logger }

func (w wireLogger) Printf(format string, v ...any) { w.log.Warn(fmt.Sprintf(format, v...)) }
func (w wireLogger) Println(v ...any)               { w.log.Warn(fmt.Sprint(v...)) }
