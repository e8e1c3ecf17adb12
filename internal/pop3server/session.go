package pop3server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/textline"
)

// state is a POP3 session state (RFC 1939 §3).
type state uint8

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

func (st state) String() string {
	switch st {
	case stateAuthorization:
		return "AUTHORIZATION"
	case stateTransaction:
		return "TRANSACTION"
	case stateUpdate:
		return "UPDATE"
	}
	return "unknown"
}

// errCloseSession ends the session after the current response is flushed.
var errCloseSession = errors.New("close session")

// errShutdown is what a session's reads return once the server shuts down.
var errShutdown = errors.New("server shutting down")

// session is one POP3 connection. Only its own goroutine touches it, except
// interrupt (Shutdown) and conn.Close.
type session struct {
	srv  *Server
	id   uint64
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc

	connMu sync.Mutex // guards conn against interrupt during STLS
	conn   net.Conn
	tls    *tls.ConnectionState

	in  *textline.Reader
	out *textline.Writer

	state     state
	utf8      bool
	user      string // name from USER, waiting for PASS
	timestamp string // APOP timestamp of the greeting, "" when off
	failures  int

	account store.Account
	mailbox store.Mailbox
	locked  bool
	// release gives back the account's session slot (auth.Acquire);
	// nil when the session holds none.
	release func()
	drop    maildrop
}

func (s *Server) newSession(c net.Conn) *session {
	id := s.nextID.Add(1)
	ctx, stop := context.WithCancel(context.Background())
	sess := &session{
		srv:  s,
		id:   id,
		log:  s.log.With("proto", "pop3", "session", id, "remote", c.RemoteAddr().String()),
		ctx:  ctx,
		stop: stop,
		conn: c,
	}
	// The reader takes lines up to the AUTH bound; the command loop holds
	// other commands to maxCommandLine (see overLong).
	sess.in = textline.NewReader(sessionReader{sess}, maxSASLLine, s.inPool)
	sess.out = textline.NewWriter(sessionWriter{sess}, s.outBuf)
	return sess
}

// sessionReader is the session's input: it flushes pending output before
// it waits (a pipelining client reads answers only after a burst) and
// applies the idle timeout to every wait.
type sessionReader struct{ s *session }

func (r sessionReader) Read(p []byte) (int, error) {
	s := r.s
	if err := s.out.Flush(); err != nil {
		return 0, err
	}
	c := s.netConn()
	c.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	if s.srv.closing.Load() {
		return 0, errShutdown
	}
	return c.Read(p)
}

// sessionWriter is the session's output; a client that stops reading for
// the idle timeout is dropped, so output queued for it stays bounded by
// the writer's buffer.
type sessionWriter struct{ s *session }

func (w sessionWriter) Write(p []byte) (int, error) {
	c := w.s.netConn()
	c.SetWriteDeadline(time.Now().Add(w.s.srv.opts.IdleTimeout))
	return c.Write(p)
}

func (s *session) netConn() net.Conn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.conn
}

// interrupt wakes a session blocked reading (Shutdown).
func (s *session) interrupt() {
	s.netConn().SetReadDeadline(time.Now())
}

func (s *session) connInfo() auth.ConnInfo {
	c := s.netConn()
	return auth.ConnInfo{Remote: c.RemoteAddr(), Local: c.LocalAddr(), TLS: s.tls,
		ServerCertificate: auth.ServerCertificate(s.srv.opts.TLSConfig, s.tls)}
}

// unlock releases the session's maildrop lock and its session slot, if it
// holds them.
func (s *session) unlock() {
	if s.locked {
		s.srv.unlockMaildrop(s, s.account.ID)
		s.locked = false
	}
	if s.release != nil {
		s.release()
		s.release = nil
	}
}

// run is the session's goroutine: greeting, command loop, cleanup.
func (s *session) run() {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("pop3 session panic", "panic", r)
		}
		s.unlock()
		s.stop()
		s.netConn().Close()
		s.in.Reset(nil)
	}()
	if tc, ok := s.conn.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.log.Debug("pop3 tls handshake", "err", err)
			return
		}
		cs := tc.ConnectionState()
		s.tls = &cs
	}
	s.greet()
	for {
		if s.srv.closing.Load() && !s.in.LineBuffered() {
			s.reply("-ERR [SYS/TEMP] Server shutting down")
			s.out.Flush()
			return
		}
		line, err := s.in.ReadLine()
		if errors.Is(err, textline.ErrLineTooLong) || err == nil && overLong(line) {
			s.reply(lineTooLong)
			continue
		}
		if err != nil {
			s.readFailed(err)
			return
		}
		if err := s.dispatch(line); err != nil {
			s.out.Flush()
			if !errors.Is(err, errCloseSession) {
				s.log.Debug("pop3 session ends", "err", err)
			}
			return
		}
		if s.out.Err() != nil {
			return
		}
	}
}

// lineTooLong answers a command line over its bound.
var lineTooLong = "-ERR Line too long: commands take at most " + strconv.Itoa(maxCommandLine) +
	" octets, AUTH " + strconv.Itoa(maxSASLLine)

// overLong reports whether a command line passes maxCommandLine. AUTH may
// be longer, up to the reader's maxSASLLine: its initial response is
// SASL data like a continuation line (RFC 5034 §4 asks clients to keep it
// within 255 octets, but OAuth tokens and GSSAPI tickets rarely fit).
func overLong(line []byte) bool {
	if len(line) <= maxCommandLine {
		return false
	}
	return !(len(line) > 5 && line[4] == ' ' && strings.EqualFold(string(line[:4]), "AUTH"))
}

// readFailed ends the session after a failed read: a polite line on
// timeout or shutdown, silence when the client is gone.
func (s *session) readFailed(err error) {
	switch {
	case s.srv.closing.Load():
		s.reply("-ERR [SYS/TEMP] Server shutting down")
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.reply("-ERR Idle timeout, closing connection")
	default:
		return
	}
	s.out.Flush()
}

func (s *session) greet() {
	if s.srv.apopUsable() {
		s.timestamp = s.srv.opts.Auth.APOPTimestamp(s.srv.opts.Hostname)
		s.reply("+OK POP3 server ready ", s.timestamp)
		return
	}
	s.reply("+OK POP3 server ready")
}

// reply queues one response line; the writer flushes when the client has
// no more commands waiting.
func (s *session) reply(parts ...string) {
	s.out.WriteLine(parts...)
}

// replyErr answers a store or auth failure with the right response code
// (RFC 2449 §8.1: SYS/TEMP may go away, SYS/PERM will not) and logs the
// detail; the client never sees internal error text.
func (s *session) replyErr(what string, err error) {
	code := "SYS/TEMP"
	if errors.Is(err, store.ErrNoMailbox) || errors.Is(err, store.ErrNotSelectable) || errors.Is(err, store.ErrNoAccount) {
		code = "SYS/PERM"
	}
	s.log.Warn("pop3 "+what, "err", err, "user", s.account.Name)
	s.reply("-ERR [", code, "] ", what, " failed")
}

// sanitize makes client-supplied text safe to echo or log: printable ASCII
// only, bounded.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 40; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
