// Package pop3server serves POP3 (RFC 1939) with CAPA and response codes
// (RFC 2449, RFC 3206), SASL AUTH (RFC 5034), STLS (RFC 2595) and UTF8
// (RFC 6856) over a store.Store.
//
// Lifecycle:
//  1. New builds a Server from Options (nothing is started).
//  2. Serve accepts connections on a listener, one goroutine per session,
//     until the listener is closed; it may run on several listeners.
//  3. Shutdown closes the listeners, tells idle sessions to go and waits for
//     running commands to end (or for ctx, then closes what is left).
//
// Session states (RFC 1939 §3) and their transitions:
//
//	AUTHORIZATION --USER/PASS, APOP, AUTH ok, session slot and maildrop locked--> TRANSACTION
//	AUTHORIZATION --QUIT--> closed (nothing changes)
//	TRANSACTION   --QUIT--> UPDATE --expunge done--> closed
//	any state     --connection lost, idle timeout, shutdown--> closed
//	                (no UPDATE: a dropped connection deletes nothing)
//
// The maildrop is the account's POP3 mailbox (setting "pop3_mailbox",
// INBOX by default) as it stood at login. RETR marks a message \Seen at
// QUIT (with the deletions, in the UPDATE state), like Dovecot's default;
// setting "pop3_mark_seen" to "no" turns that off. TOP never marks. The
// EXPIRE policy (Options.Expire) deletes retrieved messages at QUIT (0) or
// at a login n days after their first retrieval.
package pop3server

import (
	"context"
	"crypto/tls"
	"github.com/postern/postern/internal/netserve"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/textline"
)

// Options configure a Server.
type Options struct {
	Store store.Store
	Auth  *auth.Service
	// TLSConfig enables STLS on cleartext listeners; nil: no STLS.
	TLSConfig *tls.Config
	Logger    *slog.Logger
	// Hostname appears in the greeting and the APOP timestamp.
	Hostname string
	// IdleTimeout ends a session that sends nothing (or reads nothing)
	// for that long; default 10 minutes (RFC 1939 §3 asks for at least
	// 10).
	IdleTimeout time.Duration
	// Expire is the EXPIRE policy (RFC 2449 §6.7), announced in CAPA:
	// "NEVER" (the default) keeps mail until a client deletes it; "0"
	// deletes the messages a session retrieved (RETR) at its QUIT, DELE
	// or not; a number of days n > 0 deletes messages first retrieved
	// more than n days ago, at the account's next POP3 login. Deletions
	// are ordinary store expunges, so IMAP sessions see them. Anything
	// else is logged and treated as "NEVER".
	Expire string
	// LoginDelay is the CAPA LOGIN-DELAY value (RFC 2449 §6.8); logins
	// to one account closer together than this are refused with
	// [LOGIN-DELAY]. 0: not advertised, not enforced.
	LoginDelay time.Duration
}

// Limits on what a client may send (DESIGN.md §5).
const (
	// maxCommandLine bounds a command line without its CRLF. RFC 2449 §4
	// allows 255 octets with it; the rest is slack for sloppy clients.
	maxCommandLine = 512
	// maxSASLLine bounds an AUTH command line (its initial response) and
	// each AUTH continuation line: base64 of GSSAPI tickets, SCRAM
	// messages or OAuth tokens, which can run to kilobytes.
	maxSASLLine = 12 << 10
	// maxAuthFailures per session before the server hangs up.
	maxAuthFailures = 5
	// handshakeTimeout bounds a TLS handshake.
	handshakeTimeout = 30 * time.Second
)

// Server is a POP3 server. It is safe for concurrent use; Serve may run on
// several listeners at once.
type Server struct {
	opts   Options
	log    *slog.Logger
	inPool *textline.Pool
	outBuf *textline.Pool
	copyBf *textline.Pool
	nextID atomic.Uint64

	closing atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	// locked holds the maildrop locks of RFC 1939 §8 among POP3
	// sessions, by account.
	locked map[store.AccountID]*session
	// lastLogin is when each account last logged in (LOGIN-DELAY).
	lastLogin map[store.AccountID]time.Time
	wg        sync.WaitGroup

	// expireDays is Options.Expire as a number; expireNever for NEVER.
	expireDays int
}

// expireNever is Server.expireDays for EXPIRE NEVER.
const expireNever = -1

// parseExpire reads an EXPIRE value: "NEVER" or a number of days.
func parseExpire(v string) (days int, ok bool) {
	if strings.EqualFold(v, "NEVER") {
		return expireNever, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || v[0] == '+' {
		return 0, false
	}
	return n, true
}

// New returns a Server; nothing runs until Serve.
func New(opts Options) *Server {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.Expire == "" {
		opts.Expire = "NEVER"
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	days, ok := parseExpire(opts.Expire)
	if !ok {
		log.Warn("pop3: invalid EXPIRE value, using NEVER", "expire", opts.Expire)
		opts.Expire, days = "NEVER", expireNever
	}
	return &Server{
		opts:       opts,
		log:        log,
		expireDays: days,
		inPool:     textline.NewPool(maxSASLLine + 2048),
		outBuf:     textline.NewPool(32 << 10),
		copyBf:     textline.NewPool(32 << 10),
		listeners:  make(map[net.Listener]struct{}),
		sessions:   make(map[*session]struct{}),
		locked:     make(map[store.AccountID]*session),
		lastLogin:  make(map[store.AccountID]time.Time),
	}
}

// Serve accepts connections on l until l is closed or Shutdown is called;
// then it returns nil. Other accept errors are returned. A listener
// yielding *tls.Conn gives implicit TLS (POP3S, RFC 8314); the handshake
// runs in the session's goroutine.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	return netserve.Accept(l, s.closing.Load,
		func(err error, pause time.Duration) { s.log.Warn("pop3 accept", "err", err, "retry", pause) },
		func(c net.Conn) {
			sess := s.newSession(c)
			s.mu.Lock()
			if s.closing.Load() {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.sessions[sess] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				sess.run()
				s.mu.Lock()
				delete(s.sessions, sess)
				s.mu.Unlock()
			}()
		})
}

// Shutdown stops accepting, ends idle sessions (they get -ERR [SYS/TEMP]
// and keep their maildrops unchanged) and waits for sessions in a command
// to finish. When ctx ends first, the remaining connections are closed and
// ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		sess.interrupt()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.sessions {
			sess.conn.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// lockMaildrop takes the POP3 maildrop lock of an account and enforces
// LOGIN-DELAY. It returns the response code on refusal.
func (s *Server) lockMaildrop(sess *session, id store.AccountID) (code string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.locked[id]; busy {
		return "IN-USE", false
	}
	now := time.Now()
	if d := s.opts.LoginDelay; d > 0 {
		if last, seen := s.lastLogin[id]; seen && now.Sub(last) < d {
			return "LOGIN-DELAY", false
		}
		if len(s.lastLogin) > 10000 {
			for k, t := range s.lastLogin {
				if now.Sub(t) >= d {
					delete(s.lastLogin, k)
				}
			}
		}
		s.lastLogin[id] = now
	}
	s.locked[id] = sess
	return "", true
}

func (s *Server) unlockMaildrop(sess *session, id store.AccountID) {
	s.mu.Lock()
	if s.locked[id] == sess {
		delete(s.locked, id)
	}
	s.mu.Unlock()
}
