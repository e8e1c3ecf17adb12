package imapserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

// maxAuthLine bounds one line of a SASL exchange.
const maxAuthLine = 16 << 10

// cmdStartTLS: STARTTLS (RFC 9051 §6.2.1). Commands the client pipelined
// after it in plaintext are discarded, and capabilities are recomputed.
func cmdStartTLS(s *session, c *command) error {
	if !s.dec.ExpectCRLF() {
		return nil
	}
	if s.srv.opts.TLSConfig == nil || s.info.TLS != nil {
		return errNo("", "STARTTLS not available")
	}
	s.enc.Atom(c.tag).Atom(" OK Begin TLS negotiation now").CRLF()
	if err := s.enc.Flush(); err != nil {
		return err
	}
	// Drop plaintext read ahead: it must not be taken as protected input.
	s.br.Reset(&s.src)
	s.src.pre = nil
	tc := tls.Server(s.rawConn, s.srv.opts.TLSConfig)
	s.rawConn.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.log.Debug("starttls handshake failed", "err", err)
		return errLogout
	}
	s.rawConn.SetDeadline(time.Time{})
	s.out.resetDeadline()
	cs := tc.ConnectionState()
	s.info.TLS = &cs
	s.info.ServerCertificate = auth.ServerCertificate(s.srv.opts.TLSConfig, &cs)
	s.conn = tc
	s.src.r = tc
	s.out.w = tc
	s.bw.Reset(&s.out)
	s.br.Reset(&s.src)
	return errTaggedAlready
}

// errTaggedAlready tells finish that the handler wrote its tagged reply.
var errTaggedAlready = errors.New("tagged response already sent")

// loggedIn moves the session to the authenticated state.
func (s *session) loggedIn(c *command, accountName string) error {
	acc, err := s.srv.opts.Store.Account(s.ctx, accountName)
	if err != nil {
		return err
	}
	release, ok := s.srv.opts.Auth.Acquire(acc.Name)
	if !ok {
		return errNo("LIMIT", "Too many sessions for this account")
	}
	s.releaseLogin = release
	s.account = acc
	s.state = stateAuthenticated
	s.log = s.log.With("account", acc.Name)
	c.code = "CAPABILITY " + strings.Join(s.capabilities(), " ")
	return nil
}

// cmdLogin: LOGIN (RFC 9051 §6.2.3).
func cmdLogin(s *session, c *command) error {
	d := s.dec
	var user, pass string
	if !d.ExpectSP() || !d.ExpectAString(&user) || !d.ExpectSP() || !d.ExpectAString(&pass) || !d.ExpectCRLF() {
		return nil
	}
	if !s.srv.opts.Auth.PlaintextAllowed(s.info) {
		return errNo("PRIVACYREQUIRED", "LOGIN is disabled without TLS")
	}
	name, err := s.srv.opts.Auth.CheckPassword(s.ctx, s.info, user, pass)
	s.logLogin("LOGIN", user, err)
	if err != nil {
		if errors.Is(err, auth.ErrFailed) {
			return errNo("AUTHENTICATIONFAILED", "Invalid credentials")
		}
		return err
	}
	c.text = "LOGIN completed"
	return s.loggedIn(c, name)
}

// cmdAuthenticate: AUTHENTICATE with SASL-IR (RFC 9051 §6.2.2, RFC 4959).
func cmdAuthenticate(s *session, c *command) error {
	d := s.dec
	var mech string
	if !d.ExpectSP() || !d.ExpectAtom(&mech) {
		return nil
	}
	var initial []byte
	hasInitial := false
	if d.SP() {
		var ir string
		if !d.Expect(d.Word(func(b byte) bool { return b > 0x20 && b < 0x7f }, &ir), "initial response") {
			return nil
		}
		hasInitial = true
		if ir != "=" {
			b, err := base64.StdEncoding.DecodeString(ir)
			if err != nil {
				d.Errorf("initial response is not base64")
				return nil
			}
			initial = b
		} else {
			initial = []byte{}
		}
	}
	if !d.ExpectCRLF() {
		return nil
	}
	ex, err := s.srv.opts.Auth.Start(s.ctx, s.info, mech)
	if err != nil {
		s.logLogin(mech, "", err)
		return err
	}
	resp := initial
	if !hasInitial {
		resp = nil
	}
	for {
		challenge, done, err := ex.Next(s.ctx, resp)
		if err != nil {
			s.logLogin(mech, "", err)
			if errors.Is(err, auth.ErrFailed) {
				return errNo("AUTHENTICATIONFAILED", "Authentication failed")
			}
			return err
		}
		if done && challenge == nil {
			s.logSASLLogin(mech, ex)
			c.text = "AUTHENTICATE completed"
			return s.loggedIn(c, ex.Account())
		}
		s.enc.Atom("+ ").Atom(base64.StdEncoding.EncodeToString(challenge)).CRLF()
		if err := s.enc.Flush(); err != nil {
			return err
		}
		line, err := s.readAuthLine()
		if err != nil {
			return err
		}
		if string(line) == "*" {
			return errBad("Authentication canceled")
		}
		dec, derr := base64.StdEncoding.DecodeString(string(line))
		if derr != nil {
			return errBad("Invalid base64 in authentication response")
		}
		if done {
			s.logSASLLogin(mech, ex)
			c.text = "AUTHENTICATE completed"
			return s.loggedIn(c, ex.Account())
		}
		resp = dec
	}
}

// readAuthLine reads one client line of a SASL exchange.
func (s *session) readAuthLine() ([]byte, error) {
	var line []byte
	for {
		b, err := s.br.ReadSlice('\n')
		line = append(line, b...)
		if len(line) > maxAuthLine {
			s.dec.DiscardLine(maxDiscard)
			return nil, errBad("Authentication response too long")
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, &fatalError{s.readError(err)}
		}
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// cmdUnauthenticate: UNAUTHENTICATE (RFC 8437) returns to the not
// authenticated state, so the connection can log in as someone else.
func cmdUnauthenticate(s *session, c *command) error {
	if !s.dec.ExpectCRLF() {
		return nil
	}
	s.notify = nil
	s.deselect()
	if s.releaseLogin != nil {
		s.releaseLogin()
		s.releaseLogin = nil
	}
	s.account = store.Account{}
	s.state = stateNotAuthenticated
	s.enabled = enabled{}
	s.dec.UTF8, s.enc.UTF8 = false, false
	s.log = s.srv.log.With("session", s.id, "remote", s.rawConn.RemoteAddr().String())
	return nil
}
