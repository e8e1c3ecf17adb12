package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

// state is a session state of RFC 9051 §3. Transitions:
// notAuthenticated → authenticated (LOGIN, AUTHENTICATE);
// authenticated ⇄ selected (SELECT/EXAMINE; CLOSE/UNSELECT or a failed
// SELECT); any → logout (LOGOUT, BYE).
type state uint8

const (
	stateNotAuthenticated state = 1 << iota
	stateAuthenticated
	stateSelected
	stateLogout
)

func (st state) String() string {
	switch st {
	case stateNotAuthenticated:
		return "not authenticated"
	case stateAuthenticated:
		return "authenticated"
	case stateSelected:
		return "selected"
	case stateLogout:
		return "logout"
	}
	return "unknown"
}

// maxBadBeforeAuth is how many BAD responses an unauthenticated client gets
// before the server says BYE.
const maxBadBeforeAuth = 10

// maxDiscard bounds how much of a bad line is skipped before giving up.
const maxDiscard = 1 << 20

// errLogout ends the session loop normally.
var errLogout = errors.New("logout")

// prefixReader yields pre before reading from r; it lets a session wait
// for the first octet of a command without holding a bufio buffer.
type prefixReader struct {
	pre []byte
	r   io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// writeTimeout bounds how long one write to a client may block, so a
// client that stops reading cannot pin a session (and its store reads).
const writeTimeout = 2 * time.Minute

// deadlineWriter keeps a write deadline between writeTimeout/2 and
// writeTimeout ahead of every write. Setting a deadline is a timer update,
// so a write while the last one set is still far enough ahead keeps it.
type deadlineWriter struct {
	w   io.Writer // the connection, or TLS over it
	raw net.Conn
	// until is the deadline last set; zero after something else set the
	// connection's deadlines (resetDeadline).
	until time.Time
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	if now := time.Now(); d.until.Sub(now) < writeTimeout/2 {
		d.until = now.Add(writeTimeout)
		d.raw.SetWriteDeadline(d.until)
	}
	return d.w.Write(b)
}

// resetDeadline follows a SetDeadline on the connection: the next write
// sets its own.
func (d *deadlineWriter) resetDeadline() { d.until = time.Time{} }

// enabled are the extensions a client turned on with ENABLE (RFC 5161) or,
// for CONDSTORE, implicitly (RFC 7162 §3.1).
type enabled struct {
	rev2      bool
	utf8      bool
	condstore bool
	qresync   bool
	uidOnly   bool // RFC 9586
}

// session is one IMAP connection. Only its own goroutine touches it (one
// at a time: see serve), except interrupt, which Shutdown calls, and
// wakeIdle, which the hub calls.
type session struct {
	// The fields a delivery's wake-up and a parked update use come first,
	// in two cache lines: after a long IDLE nothing of a session is in a
	// CPU cache, and 10,000 sessions woken by one delivery each pay for
	// every line touched (docs/benchmarks.md, IDLE).
	srv *Server
	// woken is set by the hub's wake while the session idles (idleRead,
	// wakeParked).
	woken    atomic.Bool
	updating atomic.Bool // a parkedUpdate goroutine runs
	// Parking (park.go). parkMu guards parked, parkCmd and parkErr, and
	// is held while a parked session sends an update.
	parkMu sync.Mutex
	parked bool
	// direct: a parked update goes out through directWriter (set when
	// a cleartext session first parks; never for TLS and COMPRESS).
	direct  bool
	enabled enabled
	parkFD  int
	sub     *store.Subscription
	sel     *view
	// notify is what NOTIFY SET asked for (RFC 5465), or nil.
	notify *notifySpec
	bw     *bufio.Writer
	// enc is a value, not a pointer: its own allocation would be one
	// more cold line per woken session.
	enc     imapwire.Encoder
	account store.Account

	id      uint64
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	rawConn net.Conn // the accepted connection; deadlines go here
	conn    net.Conn // rawConn or the TLS connection over it
	src     prefixReader
	out     deadlineWriter
	one     [1]byte
	br      *bufio.Reader
	dec     *imapwire.Decoder

	state  state
	info   auth.ConnInfo
	badRun int
	// releaseLogin gives back the account's session slot (auth.Acquire).
	releaseLogin func()
	// deflate is the output compressor after COMPRESS DEFLATE.
	deflate *deflateWriter
	// idleCmd is the IDLE command handed to a fresh goroutine (serve).
	idleCmd *command
	// idleDeadline is when an IDLE that began ends in autologout.
	idleDeadline time.Time
	// idlePre holds what the client sent after IDLE that park's probe
	// read (idleRead takes it first).
	idlePre []byte

	// The rest of parking.
	parkCmd   *command
	parkErr   error
	parkTimer *time.Timer
}

func newSession(srv *Server, conn net.Conn) *session {
	id := srv.nextID.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		srv:     srv,
		id:      id,
		log:     srv.log.With("session", id, "remote", conn.RemoteAddr().String()),
		ctx:     ctx,
		cancel:  cancel,
		rawConn: conn,
		conn:    conn,
		state:   stateNotAuthenticated,
		info:    auth.ConnInfo{Remote: conn.RemoteAddr(), Local: conn.LocalAddr()},
	}
	s.src.r = conn
	s.out = deadlineWriter{w: conn, raw: conn}
	s.dec = imapwire.NewDecoder(nil, imapwire.Limits{})
	s.dec.Continue = s.continueLiteral
	return s
}

// interrupt wakes the session from a blocking read, or resumes it from
// parked IDLE (Shutdown).
func (s *session) interrupt() {
	s.rawConn.SetReadDeadline(time.Now())
	go s.unpark(nil)
}

func (s *session) acquireBuffers() {
	if s.br == nil {
		s.br = s.srv.readers.Get().(*bufio.Reader)
		s.br.Reset(&s.src)
		s.dec.Reset(s.br)
	}
	s.acquireWriter()
}

// acquireWriter takes only the output buffer (an idling session that has
// an update to send).
func (s *session) acquireWriter() {
	if s.bw == nil {
		s.bw = s.srv.writers.Get().(*bufio.Writer)
		s.bw.Reset(&s.out)
		s.enc.Reset(s.bw)
	}
}

// releaseBuffers returns the buffers to the pools while the connection
// waits (DESIGN.md §4); callers flush first and check Buffered() == 0.
func (s *session) releaseBuffers() {
	// The encoder and decoder must not touch pooled buffers now owned by
	// other sessions; acquireBuffers points them at fresh ones. Each
	// points at a pooled buffer only while the session holds one, so
	// when it holds none they are left alone: an IDLE update releases
	// only the writer, and the decoder, cold after a long IDLE, would
	// cost a cache miss per session.
	if s.br != nil {
		s.br.Reset(nil)
		s.srv.readers.Put(s.br)
		s.br = nil
		s.dec.Reset(nil)
	}
	if s.bw != nil {
		s.bw.Reset(nil)
		s.srv.writers.Put(s.bw)
		s.bw = nil
		s.enc.Reset(nil)
	}
	if s.deflate != nil {
		s.deflate.release()
	}
}

// run is the connection's first goroutine: the TLS handshake (IMAPS),
// the greeting, then commands (serve).
func (s *session) run() {
	if s.start() {
		s.serve(nil)
		return
	}
	s.end()
}

// start does the implicit TLS handshake and sends the greeting; false
// means the connection is to be closed.
func (s *session) start() (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("session panic", "panic", r, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	if tc, ok := s.conn.(*tls.Conn); ok {
		s.rawConn.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			s.log.Debug("tls handshake failed", "err", err)
			return false
		}
		s.rawConn.SetDeadline(time.Time{})
		s.out.resetDeadline()
		cs := tc.ConnectionState()
		s.info.TLS = &cs
		s.info.ServerCertificate = auth.ServerCertificate(s.srv.opts.TLSConfig, &cs)
	}
	s.acquireBuffers()
	s.enc.Atom("* OK [CAPABILITY ").Atom(strings.Join(s.capabilities(), " ")).Atom("] ").
		Atom(s.srv.opts.Hostname).Atom(" postern IMAP server ready").CRLF()
	return true
}

// serve runs commands until the session ends, when it cleans up (end).
// When a command enters IDLE (errIdleHandoff), serve starts a fresh
// goroutine that runs serve(idle), which first waits for the client's
// DONE and finishes the IDLE command, and returns: the goroutine's stack,
// grown by store calls, goes back to the runtime while the connection
// idles. Only one goroutine at a time runs serve for a session.
func (s *session) serve(idle *command) {
	handedOff := false
	defer s.exit(&handedOff)
	if idle != nil {
		err := s.finish(idle, commands["IDLE"], s.idleResume(idle))
		if err != nil {
			s.ended(err)
			return
		}
	}
	for {
		err := s.serveCommand()
		if err == nil {
			continue
		}
		if errors.Is(err, errIdleHandoff) {
			handedOff = true
			next := s.idleCmd
			s.idleCmd = nil
			if !s.park(next) {
				go s.serve(next)
			}
			return
		}
		s.ended(err)
		return
	}
}

// ended logs why the command loop stopped and flushes what is left.
func (s *session) ended(err error) {
	if !errors.Is(err, errLogout) {
		s.log.Debug("session ends", "err", err)
	}
	if s.bw != nil {
		s.enc.Flush()
	}
}

// exit is serve's deferred call: unless the session was handed to another
// goroutine, it recovers from a panic (a bug must not take the server
// down; the session state is suspect, so the connection ends) and ends
// the session.
func (s *session) exit(handedOff *bool) {
	if *handedOff {
		return
	}
	if r := recover(); r != nil {
		s.log.Error("session panic", "panic", r, "stack", string(debug.Stack()))
		if s.bw != nil {
			s.enc.Reset(s.bw)
			s.enc.Atom("* BYE Internal server error").CRLF()
			s.enc.Flush()
		}
	}
	s.end()
}

// end releases everything the session holds and closes the connection.
func (s *session) end() {
	defer s.srv.removeSession(s)
	s.cancel()
	if s.sub != nil {
		s.sub.Close()
	}
	if s.releaseLogin != nil {
		s.releaseLogin()
	}
	s.conn.Close()
	s.releaseBuffers()
}

// bye sends an untagged BYE and flushes.
func (s *session) bye(text string) error {
	s.acquireBuffers()
	s.enc.Atom("* BYE ").Atom(text).CRLF()
	s.enc.Flush()
	return errLogout
}

// waitForInput blocks until the next command's first octet arrives,
// holding no buffers meanwhile when nothing is buffered.
func (s *session) waitForInput() error {
	if s.br != nil && s.br.Buffered() > 0 {
		return nil
	}
	if err := s.enc.Flush(); err != nil {
		return err
	}
	s.rawConn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	if s.srv.closing.Load() {
		return s.bye("Server shutting down")
	}
	s.releaseBuffers()
	for empty := 0; ; empty++ {
		n, err := s.src.r.Read(s.one[:])
		if n > 0 {
			s.src.pre = s.one[:n]
			break
		}
		if err == nil && empty > 100 {
			err = io.ErrNoProgress
		}
		if err != nil {
			return s.readError(err)
		}
	}
	s.acquireBuffers()
	return nil
}

// readError turns a read failure into the session's end, with a BYE when
// the server is closing or the client idled too long.
func (s *session) readError(err error) error {
	if s.srv.closing.Load() {
		return s.bye("Server shutting down")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return s.bye("Autologout; idle for too long")
	}
	return err
}

// continueLiteral answers a synchronizing literal (RFC 9051 §7.5).
func (s *session) continueLiteral() error {
	s.enc.Atom("+ Ready for literal data").CRLF()
	return s.enc.Flush()
}

// fatalError ends the session (the connection failed mid-command).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// command is one command being run.
type command struct {
	tag  string
	name string // upper case; "UID FETCH" for UID commands
	uid  bool
	// code and text complete the tagged OK ("[READ-WRITE]", "SELECT
	// completed"); handlers set them.
	code string
	text string
	// lineDone tells that nothing of the command is left to skip after
	// an error (a refused synchronizing literal).
	lineDone bool
}

// serveCommand reads, runs and answers one command.
func (s *session) serveCommand() error {
	if err := s.waitForInput(); err != nil {
		return err
	}
	s.rawConn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	d := s.dec
	d.Begin()
	var c command
	if d.CRLF() {
		return nil // empty line: ignore
	}
	if !d.Tag(&c.tag) || !d.SP() {
		if err := d.Err(); err != nil && !isDecodeError(err) {
			return s.readError(err)
		}
		return s.badLine("*", "Missing tag or command", &c)
	}
	var name string
	if !d.Atom(&name) {
		if err := d.Err(); err != nil && !isDecodeError(err) {
			return s.readError(err)
		}
		return s.badLine(c.tag, "Missing command", &c)
	}
	name = strings.ToUpper(name)
	if name == "UID" {
		var sub string
		if !d.SP() || !d.Atom(&sub) {
			return s.badLine(c.tag, "Missing command after UID", &c)
		}
		name = "UID " + strings.ToUpper(sub)
		c.uid = true
	}
	c.name = name
	spec, ok := commands[name]
	if !ok {
		return s.badLine(c.tag, "Unknown command "+sanitize(name), &c)
	}
	if s.state&spec.states == 0 {
		return s.badLine(c.tag, name+" not allowed in the "+s.state.String()+" state", &c)
	}
	err := spec.run(s, &c)
	if errors.Is(err, errIdleHandoff) {
		s.idleCmd = &c
		return err
	}
	return s.finish(&c, spec, err)
}

// badLine answers BAD, skips the rest of the line, and ends the session
// after too much garbage from an unauthenticated client.
func (s *session) badLine(tag, text string, c *command) error {
	s.enc.Atom(tag).Atom(" BAD ").Atom(text).CRLF()
	return s.afterBad(c)
}

func (s *session) afterBad(c *command) error {
	if !c.lineDone {
		var le *imapwire.LimitError
		if errors.As(s.dec.Err(), &le) && le.Fatal {
			return s.bye("Literal too large")
		}
		if le != nil && le.LineEnded {
			// nothing left of the command to skip
		} else if !s.dec.DiscardLine(maxDiscard) {
			return s.bye("Line too long")
		}
	}
	if s.state == stateNotAuthenticated {
		s.badRun++
		if s.badRun >= maxBadBeforeAuth {
			return s.bye("Too many bad commands")
		}
	}
	return nil
}

func isDecodeError(err error) bool {
	var se *imapwire.SyntaxError
	var le *imapwire.LimitError
	return errors.As(err, &se) || errors.As(err, &le)
}

// sanitize keeps client text printable before echoing it.
func sanitize(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// finish writes pending updates and the tagged response for c.
func (s *session) finish(c *command, spec commandSpec, err error) error {
	if derr := s.dec.Err(); derr != nil {
		if !isDecodeError(derr) {
			return s.readError(derr)
		}
		text := derr.Error()
		var le *imapwire.LimitError
		if errors.As(derr, &le) {
			text = strings.ToUpper(le.Msg[:1]) + le.Msg[1:]
		} else {
			text = "Syntax error in " + c.name + ": " + derr.(*imapwire.SyntaxError).Msg
		}
		return s.badLine(c.tag, text, c)
	}
	if errors.Is(err, errLogout) {
		return err
	}
	if werr := s.enc.Err(); werr != nil {
		// The client is gone (or stopped reading); whatever the handler
		// says, the session is over. This is not a server bug.
		return werr
	}
	if errors.Is(err, errTaggedAlready) {
		return nil
	}
	var fe *fatalError
	if errors.As(err, &fe) {
		return fe.err
	}
	if err == nil {
		s.badRun = 0
	}
	if (s.state == stateSelected || s.notify != nil) && !spec.noSync {
		if serr := s.sync(!spec.noExpunge || c.uid); serr != nil {
			s.log.Error("sync failed", "err", serr)
		}
	}
	if err == nil {
		s.enc.Atom(c.tag).Atom(" OK ")
		if c.code != "" {
			s.enc.Byte('[').Atom(c.code).Atom("] ")
		}
		if c.text == "" {
			c.text = c.name + " completed"
		}
		s.enc.Atom(c.text)
		return s.enc.CRLF()
	}
	status, code, text := s.mapError(c, err)
	s.enc.Atom(c.tag).SP().Atom(status).SP()
	if code != "" {
		s.enc.Byte('[').Atom(code).Atom("] ")
	}
	s.enc.Atom(text)
	if werr := s.enc.CRLF(); werr != nil {
		return werr
	}
	if status == "BAD" && s.state == stateNotAuthenticated {
		s.badRun++
		if s.badRun >= maxBadBeforeAuth {
			return s.bye("Too many bad commands")
		}
	}
	return nil
}
