// Package imapserver serves IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501)
// sessions over the mail store. One goroutine runs each connection; each
// session keeps its own view of the selected mailbox and, while a mailbox
// is selected, learns about other sessions' changes from the store's change
// hub.
//
// Extensions: LITERAL+, SASL-IR, ID, ENABLE, IDLE, NAMESPACE, UNSELECT,
// UIDPLUS, MOVE, CHILDREN, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE,
// CREATE-SPECIAL-USE, ESEARCH, SEARCHRES, CONDSTORE, QRESYNC, BINARY,
// MULTIAPPEND, APPENDLIMIT, UTF8=ACCEPT, STATUS=SIZE, SAVEDATE, PREVIEW,
// OBJECTID, SORT, SORT=DISPLAY, THREAD=ORDEREDSUBJECT, THREAD=REFERENCES,
// WITHIN, QUOTA, COMPRESS=DEFLATE, UNAUTHENTICATE, UIDONLY, NOTIFY,
// INPROGRESS.
//
// Files: server.go (lifecycle), session.go (connection loop, buffers,
// dispatch), commands.go (the command table and capabilities), errors.go
// (the one error → response mapper), view.go (the selected mailbox and
// unsolicited updates), one cmd_*.go per command group, fetch*.go,
// search*.go, sort.go, thread.go, qresync.go, uidonly.go, notify.go,
// progress.go (INPROGRESS) and inflate.go (the COMPRESS decoder).
//
// Lifecycle of a Server:
//  1. New builds it from Options (nothing listens yet).
//  2. Serve accepts connections on a listener until the listener closes;
//     it may be called for several listeners at once (IMAP and IMAPS).
//  3. Shutdown says BYE to every session and waits for them to end.
package imapserver

import (
	"bufio"
	"compress/flate"
	"context"
	"crypto/tls"
	"errors"
	"github.com/postern/postern/internal/netserve"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

// Options configure a Server.
type Options struct {
	Store store.Store
	Auth  *auth.Service
	// TLSConfig enables STARTTLS; nil means no STARTTLS.
	TLSConfig *tls.Config
	Logger    *slog.Logger
	// MaxMessageSize is the APPENDLIMIT (RFC 7889); default 50 MiB.
	MaxMessageSize int64
	// IdleTimeout is the autologout timer (RFC 9051 §5.4); default 30 min.
	IdleTimeout time.Duration
	// Hostname names the server in the greeting.
	Hostname string
	// ProgressInterval is how often a long FETCH reports INPROGRESS
	// (RFC 9585); default 2 s, negative never.
	ProgressInterval time.Duration

	// progressAlways reports progress after every message (tests).
	progressAlways bool
	// idleGoroutines keeps a goroutine blocked in Read for every IDLE
	// session instead of parking it (tests of both paths).
	idleGoroutines bool
}

const (
	defaultMaxMessageSize = 50 << 20
	defaultIdleTimeout    = 30 * time.Minute
	// tlsHandshakeTimeout bounds implicit TLS and STARTTLS handshakes.
	tlsHandshakeTimeout = 30 * time.Second
	// bufferSize is the size of pooled reader and writer buffers.
	bufferSize = 4096
)

// Server runs IMAP sessions. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	readers sync.Pool // *bufio.Reader
	writers sync.Pool // *bufio.Writer
	// compressors are COMPRESS=DEFLATE output compressors (*flate.Writer).
	compressors sync.Pool

	nextID  atomic.Uint64
	closing atomic.Bool
	done    chan struct{}

	// claims are the \Recent claims running, per mailbox (claimRecent).
	claimMu sync.Mutex
	claims  map[recentKey]*recentClaim

	// idlePoll watches parked IDLE connections (park.go); pollOnce
	// starts it.
	pollOnce sync.Once
	idlePoll *idlePoller
	// parkedUpdates queues parked sessions that have an update for the
	// updater goroutines (park.go).
	parkedUpdates chan *session
	// parkedWriteWaits counts parked sessions' updates the socket could
	// not take at once (directWriter), which then waited for the client.
	parkedWriteWaits atomic.Int64

	// changes shares the store's answers about what changed in a mailbox
	// among its sessions (changesSince).
	changes changesCache

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	wg        sync.WaitGroup
}

// New returns a Server with defaults filled in.
func New(opts Options) *Server {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = defaultMaxMessageSize
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.ProgressInterval == 0 {
		opts.ProgressInterval = 2 * time.Second
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:      opts,
		log:       log,
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		claims:    make(map[recentKey]*recentClaim),
	}
	s.readers.New = func() any { return bufio.NewReaderSize(nil, bufferSize) }
	s.writers.New = func() any { return bufio.NewWriterSize(nil, bufferSize) }
	s.compressors.New = func() any {
		fw, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
		return fw
	}
	return s
}

// recentKey names a mailbox for claimRecent.
type recentKey struct {
	account store.AccountID
	mailbox store.MailboxID
}

// recentClaim is what this server claimed of a mailbox's \Recent: the
// greatest UID claimed or being claimed, and how many claims run.
type recentClaim struct {
	upTo    store.UID
	running int
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imapserver: server closed")

// Serve accepts connections on l and runs a session for each. A listener
// that yields *tls.Conn gives implicit TLS (IMAPS). Serve returns when l is
// closed (nil after Shutdown, else the accept error).
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	return netserve.Accept(l, s.closing.Load,
		func(err error, pause time.Duration) { s.log.Warn("imap accept", "err", err, "retry", pause) },
		func(conn net.Conn) {
			sess := s.newSession(conn)
			if sess == nil {
				conn.Close()
				return
			}
			go sess.run()
		})
}

// newSession registers a session, or returns nil once shutting down.
func (s *Server) newSession(conn net.Conn) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	sess := newSession(s, conn)
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return sess
}

func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting connections, tells every session BYE (sessions
// finish the command they are running first) and waits for them to end or
// for ctx to expire, after which remaining connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.done)
	}
	for l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		sess.interrupt()
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.sessions {
			sess.closeUnderPark()
		}
		s.mu.Unlock()
		<-finished
		return ctx.Err()
	}
}
