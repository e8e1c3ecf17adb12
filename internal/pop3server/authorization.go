package pop3server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/textline"
)

// cmdCapa lists capabilities (RFC 2449 §5). What is offered depends on the
// state and on the connection: STLS only before TLS, USER and SASL only in
// AUTHORIZATION and only where passwords may be sent (RFC 2595 §2.2, §4).
func (s *session) cmdCapa(arg string) error {
	if arg != "" {
		s.reply("-ERR CAPA takes no arguments")
		return nil
	}
	s.reply("+OK Capability list follows")
	s.reply("TOP")
	s.reply("UIDL")
	s.reply("RESP-CODES")
	s.reply("AUTH-RESP-CODE")
	s.reply("PIPELINING")
	if s.state == stateAuthorization {
		ci := s.connInfo()
		if s.srv.opts.TLSConfig != nil && s.tls == nil {
			s.reply("STLS")
		}
		if s.srv.opts.Auth != nil && s.srv.opts.Auth.PlaintextAllowed(ci) {
			s.reply("USER")
		}
		if mechs := s.mechanisms(); len(mechs) > 0 {
			s.reply("SASL ", strings.Join(mechs, " "))
		}
		s.reply("UTF8 USER")
	}
	s.reply("EXPIRE ", s.srv.opts.Expire)
	if d := s.srv.opts.LoginDelay; d > 0 {
		s.reply("LOGIN-DELAY ", strconv.Itoa(int((d+999_999_999)/1_000_000_000)))
	}
	s.reply("IMPLEMENTATION postern")
	s.reply(".")
	return nil
}

func (s *session) mechanisms() []string {
	if s.srv.opts.Auth == nil {
		return nil
	}
	return s.srv.opts.Auth.Mechanisms(s.connInfo())
}

// cmdQuit in AUTHORIZATION closes; in TRANSACTION it enters UPDATE.
func (s *session) cmdQuit(arg string) error {
	if s.state == stateTransaction {
		return s.update()
	}
	s.reply("+OK Bye")
	return errCloseSession
}

// cmdUTF8 turns on UTF-8 mode (RFC 6856 §2). User names and passwords are
// UTF-8 in any case; messages are sent as stored.
func (s *session) cmdUTF8(arg string) error {
	if arg != "" {
		s.reply("-ERR UTF8 takes no arguments")
		return nil
	}
	s.utf8 = true
	s.reply("+OK UTF8 enabled")
	return nil
}

func (s *session) cmdUser(arg string) error {
	if arg == "" {
		s.reply("-ERR USER needs a name")
		return nil
	}
	if s.srv.opts.Auth == nil || !s.srv.opts.Auth.PlaintextAllowed(s.connInfo()) {
		// RFC 2595 §2.2: no cleartext passwords without TLS.
		s.reply("-ERR [AUTH] Plaintext authentication disallowed without TLS")
		return nil
	}
	s.user = arg
	// The same answer whether or not the user exists (RFC 1939 §13).
	s.reply("+OK Send PASS")
	return nil
}

// cmdPass checks USER's name with the password; the whole rest of the line
// is the password, spaces included (RFC 1939 §7).
func (s *session) cmdPass(arg string) error {
	if s.user == "" {
		s.reply("-ERR Send USER first")
		return nil
	}
	user := s.user
	s.user = ""
	account, err := s.srv.opts.Auth.CheckPassword(s.ctx, s.connInfo(), user, arg)
	s.logLogin("USER", user, err)
	if err != nil {
		return s.authFailed(err)
	}
	return s.login(account)
}

// cmdStls starts TLS (RFC 2595 §4). Whatever the client pipelined behind
// STLS is discarded; capabilities are recomputed afterwards by CAPA.
func (s *session) cmdStls(arg string) error {
	if s.srv.opts.TLSConfig == nil || s.tls != nil {
		s.reply("-ERR STLS not available")
		return nil
	}
	s.reply("+OK Begin TLS negotiation")
	if err := s.out.Flush(); err != nil {
		return err
	}
	s.in.Reset(sessionReader{s}) // drop pipelined plaintext
	plain := s.netConn()
	tc := tls.Server(plain, s.srv.opts.TLSConfig)
	ctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
	plain.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.log.Debug("pop3 stls handshake", "err", err)
		return errCloseSession
	}
	plain.SetDeadline(time.Time{})
	s.connMu.Lock()
	s.conn = tc
	s.connMu.Unlock()
	cs := tc.ConnectionState()
	s.tls = &cs
	s.user = ""
	s.out.Reset(sessionWriter{s})
	return nil
}

// cmdAuth runs a SASL exchange (RFC 5034 §4). Without an argument it lists
// the mechanisms (a common pre-RFC 5034 extension clients still use).
func (s *session) cmdAuth(arg string) error {
	f := fields(arg)
	if len(f) == 0 {
		s.reply("+OK Mechanisms follow")
		for _, m := range s.mechanisms() {
			s.reply(m)
		}
		s.reply(".")
		return nil
	}
	if len(f) > 2 {
		s.reply("-ERR Syntax: AUTH mechanism [initial-response]")
		return nil
	}
	if s.srv.opts.Auth == nil {
		s.reply("-ERR Unrecognized authentication mechanism")
		return nil
	}
	ex, err := s.srv.opts.Auth.Start(s.ctx, s.connInfo(), f[0])
	if err != nil {
		s.logLogin(f[0], "", err)
		if errors.Is(err, auth.ErrMechanism) {
			s.reply("-ERR Unrecognized authentication mechanism")
			return nil
		}
		return s.authFailed(err)
	}
	var resp []byte
	if len(f) == 2 {
		// RFC 5034 §4: "=" is an empty initial response.
		if f[1] == "=" {
			resp = []byte{}
		} else if resp, err = base64.StdEncoding.DecodeString(f[1]); err != nil {
			s.reply("-ERR Invalid base64 in initial response")
			return nil
		}
	}
	// Continuation lines are read with the reader's own bound,
	// maxSASLLine (the command loop holds other lines to
	// maxCommandLine).
	for {
		challenge, done, err := ex.Next(s.ctx, resp)
		if err != nil {
			s.logLogin(f[0], "", err)
			return s.authFailed(err)
		}
		if done && challenge == nil {
			break
		}
		// A challenge, or additional data with success, which the
		// client acknowledges with an empty response (RFC 5034 §4).
		s.reply("+ ", base64.StdEncoding.EncodeToString(challenge))
		line, err := s.in.ReadLine()
		if err != nil {
			if errors.Is(err, textline.ErrLineTooLong) {
				s.reply("-ERR Authentication response too long")
				return nil
			}
			return err
		}
		if string(line) == "*" {
			s.reply("-ERR Authentication canceled")
			return nil
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			s.reply("-ERR Invalid base64 in authentication response")
			return nil
		}
		if done {
			if len(resp) != 0 {
				s.reply("-ERR [AUTH] Unexpected data after success")
				return nil
			}
			break
		}
	}
	s.logSASLLogin(f[0], ex)
	return s.login(ex.Account())
}

// authFailed answers a failed login. Wrong password and unknown user get
// the same [AUTH] line (RFC 3206 §4); the auth throttle has already slowed
// repeated failures. After maxAuthFailures the connection is closed.
func (s *session) authFailed(err error) error {
	switch {
	case errors.Is(err, auth.ErrFailed), errors.Is(err, auth.ErrUnknownUser):
		s.reply("-ERR [AUTH] Authentication failed")
	case errors.Is(err, auth.ErrPlaintextRefused):
		s.reply("-ERR [AUTH] Plaintext authentication disallowed without TLS")
	case errors.Is(err, auth.ErrCanceled):
		s.reply("-ERR Authentication canceled")
		return nil
	case errors.Is(err, auth.ErrMalformed):
		s.reply("-ERR [AUTH] Malformed authentication response")
	case errors.Is(err, auth.ErrMechanism):
		s.reply("-ERR Unrecognized authentication mechanism")
		return nil
	default:
		s.log.Warn("pop3 authentication", "err", err)
		s.reply("-ERR [SYS/TEMP] Temporary authentication failure")
	}
	s.failures++
	if s.failures >= maxAuthFailures {
		s.reply("-ERR [AUTH] Too many authentication failures")
		return errCloseSession
	}
	return nil
}

// login takes the maildrop of an authenticated account: a session slot
// (auth.Config.MaxSessionsPerAccount, shared with IMAP), the maildrop lock,
// LOGIN-DELAY, then the message list as it stands now.
func (s *session) login(name string) error {
	acct, err := s.srv.opts.Store.Account(s.ctx, name)
	if err != nil {
		s.replyErr("Opening maildrop", err)
		return nil
	}
	// The slot first: a login refused here must not count for LOGIN-DELAY.
	release, ok := s.srv.opts.Auth.Acquire(acct.Name)
	if !ok {
		s.reply("-ERR [IN-USE] Too many sessions for this account")
		return nil
	}
	if code, ok := s.srv.lockMaildrop(s, acct.ID); !ok {
		release()
		switch code {
		case "IN-USE":
			s.reply("-ERR [IN-USE] Maildrop is locked by another POP3 session")
		case "LOGIN-DELAY":
			s.reply("-ERR [LOGIN-DELAY] Minimum time between logins not yet passed")
		}
		return nil
	}
	s.account = acct
	s.locked = true
	s.release = release
	if err := s.loadMaildrop(); err != nil {
		s.unlock()
		s.replyErr("Opening maildrop", err)
		return nil
	}
	s.state = stateTransaction
	s.log = s.log.With("user", acct.Name)
	count, size := s.drop.stat()
	s.reply("+OK Logged in, ", strconv.Itoa(count), " messages (", strconv.FormatInt(size, 10), " octets)")
	return nil
}
