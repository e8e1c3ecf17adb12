package imapserver

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// maxIdleLine bounds the line that ends IDLE.
const maxIdleLine = 1024

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// idleLine is what the IDLE reader goroutine read.
type idleLine struct {
	line string
	err  error
}

// cmdIdle: IDLE (RFC 2177, RFC 9051 §6.3.13). Updates from other
// sessions go out as they happen; the session holds no buffers while it
// waits, and a goroutine reads the client's DONE straight from the
// connection.
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
	var line string
	if s.br.Buffered() > 0 {
		l, err := s.readAuthLine()
		if err != nil {
			return err
		}
		line = string(l)
	} else {
		l, err := s.idleWait()
		if err != nil {
			return err
		}
		line = l
	}
	if !strings.EqualFold(strings.TrimRight(line, "\r\n"), "DONE") {
		return errBad("Expected DONE")
	}
	c.text = "IDLE terminated"
	if s.state == stateSelected || s.notify != nil {
		return s.sync(true)
	}
	return nil
}

// idleWait releases the buffers and waits for DONE, sending updates as the
// hub reports them.
func (s *session) idleWait() (string, error) {
	s.releaseBuffers()
	defer s.acquireBuffers()
	lines := make(chan idleLine, 1)
	conn := s.src.r // the connection, or the decompressor over it
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
		lines <- idleLine{err: errors.New("IDLE line too long")}
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
			s.acquireBuffers()
			err := s.sync(true)
			if err == nil {
				err = s.enc.Flush()
			}
			s.releaseBuffers()
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
