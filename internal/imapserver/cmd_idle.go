package imapserver

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxIdleLine bounds the line that ends IDLE.
const maxIdleLine = 1024

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// errIdleHandoff is returned by cmdIdle when the session is to wait for
// DONE on a fresh goroutine (see session.serve): the goroutine that ran
// the command so far returns, and with it the stack it grew in the store
// (modernc.org/sqlite runs on the caller's stack), so an idling
// connection costs one small goroutine blocked in Read.
var errIdleHandoff = errors.New("idle: continue on a fresh goroutine")

// errIdleLineTooLong ends a session whose IDLE continuation line is not
// DONE and goes on past maxIdleLine.
var errIdleLineTooLong = errors.New("IDLE line too long")

// pastDeadline is a read deadline in the past: setting it wakes a blocked
// Read at once.
var pastDeadline = time.Unix(1, 0)

// idleLine is what the IDLE reader goroutine read (COMPRESS sessions).
type idleLine struct {
	line string
	err  error
}

// cmdIdle: IDLE (RFC 2177, RFC 9051 §6.3.13). Updates from other
// sessions go out as they happen; the session holds no buffers while it
// waits. Normally the wait runs on a fresh goroutine (errIdleHandoff, then
// idleResume); a session with COMPRESS=DEFLATE waits in idleWait, whose
// reader goroutine reads the client's DONE straight from the
// decompressor (whose errors are sticky, so its reads must not be
// interrupted).
func cmdIdle(s *session, c *command) error {
	if !s.dec.ExpectCRLF() {
		return nil
	}
	s.enc.Atom("+ idling").CRLF()
	if s.state == stateSelected || s.notify != nil {
		if err := s.sync(true); err != nil {
			return err
		}
	}
	if err := s.enc.Flush(); err != nil {
		return &fatalError{err}
	}
	if s.br.Buffered() > 0 {
		l, err := s.readAuthLine()
		if err != nil {
			return err
		}
		return s.idleDone(c, string(l))
	}
	s.idleDeadline = time.Now().Add(s.srv.opts.IdleTimeout)
	if s.deflate == nil {
		return errIdleHandoff
	}
	line, err := s.idleWait()
	if err != nil {
		return err
	}
	return s.idleDone(c, line)
}

// idleDone ends IDLE once the client sent line.
func (s *session) idleDone(c *command, line string) error {
	if !strings.EqualFold(strings.TrimRight(line, "\r\n"), "DONE") {
		return errBad("Expected DONE")
	}
	c.text = "IDLE terminated"
	if s.state == stateSelected || s.notify != nil {
		return s.sync(true)
	}
	return nil
}

// idleResume is the rest of cmdIdle after errIdleHandoff, on the fresh
// goroutine: it waits for DONE and returns what cmdIdle would have.
func (s *session) idleResume(c *command) error {
	if err := s.parkErr; err != nil {
		s.parkErr = nil
		return &fatalError{err}
	}
	line, err := s.idleRead()
	if err != nil {
		return err
	}
	return s.idleDone(c, line)
}

// idleRead waits for the line that ends IDLE on the session's own
// goroutine, holding no buffers, and sends updates as the hub reports
// them. The hub wakes the blocked Read by moving the read deadline into
// the past (Subscription.SetWake); woken tells such a wake from the
// autologout deadline and from Shutdown's interrupt.
func (s *session) idleRead() (string, error) {
	s.releaseBuffers()
	defer s.acquireBuffers()
	if s.sub != nil {
		s.sub.SetWake(s.wakeIdle)
		// After SetWake(nil) no wake runs; a deadline it set just before
		// is replaced before the next command is read (waitForInput).
		defer s.sub.SetWake(nil)
	}
	deadline := s.idleDeadline
	line := s.idlePre
	s.idlePre = nil
	for empty := 0; len(line) < maxIdleLine; {
		if n := len(line); n > 0 && line[n-1] == '\n' {
			return string(line), nil
		}
		if s.woken.Swap(false) {
			if err := s.idleUpdate(); err != nil {
				s.rawConn.SetReadDeadline(time.Time{})
				return "", &fatalError{err}
			}
		}
		s.rawConn.SetReadDeadline(deadline)
		// A wake or a Shutdown between the checks above and the new
		// deadline had its past deadline overwritten; look again.
		if s.woken.Load() {
			continue
		}
		if s.srv.closing.Load() {
			return "", s.bye("Server shutting down")
		}
		n, err := s.src.r.Read(s.one[:])
		if n > 0 {
			empty = 0
			line = append(line, s.one[0])
			continue
		}
		if err == nil {
			if empty++; empty > 100 {
				return "", &fatalError{io.ErrNoProgress}
			}
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return "", &fatalError{s.readError(err)}
		}
		switch {
		case s.woken.Load():
			// an update: handled at the top of the loop
		case s.srv.closing.Load():
			return "", s.bye("Server shutting down")
		case !time.Now().Before(deadline):
			return "", s.bye("Autologout; idle for too long")
		}
	}
	return "", &fatalError{errIdleLineTooLong}
}

// wakeIdle is the hub's wake for a session in idleRead: it runs on the
// publisher's goroutine and interrupts the session's blocked Read.
func (s *session) wakeIdle() {
	s.woken.Store(true)
	s.rawConn.SetReadDeadline(pastDeadline)
}

// idleUpdate tells an idling client what changed. The store is asked
// first, holding no buffer, so that thousands of sessions woken by one
// delivery do not each hold a buffer while they wait for the one shared
// query; then a pooled writer is taken only to encode and send the
// update (DESIGN.md §4).
func (s *session) idleUpdate() error {
	if s.notify != nil {
		// NOTIFY reports on other mailboxes as it reads them.
		s.acquireUpdateWriter()
		err := s.sync(true)
		if err == nil {
			err = s.enc.Flush()
		}
		s.releaseBuffers()
		return err
	}
	p, err := s.syncRead(true)
	if err != nil || p.empty(s.sel) {
		return err
	}
	s.acquireUpdateWriter()
	err = s.syncWrite(&p)
	if err == nil {
		err = s.enc.Flush()
	}
	s.releaseBuffers()
	return err
}

// acquireUpdateWriter takes the output buffer for an idling session's
// update, over the direct writer when the session is parked and has one.
func (s *session) acquireUpdateWriter() {
	s.acquireWriter()
	if s.parked && s.direct {
		s.bw.Reset((*directWriter)(s))
	}
}

// idleWait releases the buffers and waits for DONE, sending updates as the
// hub reports them, with a second goroutine reading the client's line
// (COMPRESS=DEFLATE sessions only; see cmdIdle).
func (s *session) idleWait() (string, error) {
	s.releaseBuffers()
	defer s.acquireBuffers()
	lines := make(chan idleLine, 1)
	conn := s.src.r // the decompressor over the connection
	s.rawConn.SetReadDeadline(time.Time{})
	go func() {
		var buf []byte
		var one [1]byte
		for empty := 0; len(buf) < maxIdleLine; empty++ {
			n, err := conn.Read(one[:])
			if n == 0 && err == nil && empty > 100 {
				err = io.ErrNoProgress
			}
			if n > 0 {
				buf = append(buf, one[0])
				if one[0] == '\n' {
					lines <- idleLine{line: string(buf)}
					return
				}
			}
			if err != nil {
				lines <- idleLine{err: err}
				return
			}
		}
		lines <- idleLine{err: errIdleLineTooLong}
	}()
	var events <-chan struct{} // nil (never ready) unless a mailbox is selected
	if s.sub != nil {
		events = s.sub.C
	}
	timer := time.NewTimer(s.srv.opts.IdleTimeout)
	defer timer.Stop()
	stop := func(text string) (string, error) {
		s.rawConn.SetReadDeadline(time.Now())
		<-lines
		return "", s.bye(text)
	}
	for {
		select {
		case l := <-lines:
			if l.err != nil {
				return "", &fatalError{s.readError(l.err)}
			}
			return l.line, nil
		case <-events:
			err := s.idleUpdate()
			if err != nil {
				s.rawConn.SetReadDeadline(time.Now())
				<-lines
				return "", &fatalError{err}
			}
		case <-s.srv.done:
			return stop("Server shutting down")
		case <-timer.C:
			return stop("Autologout; idle for too long")
		}
	}
}
