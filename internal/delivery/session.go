package delivery

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postern/postern/internal/store"
)

// session is the go-smtp backend of one LMTP or SMTP connection. go-smtp
// calls Mail, Rcpt and Reset from the connection's goroutine; LMTPData (and
// Data under BDAT) runs on a helper goroutine, and an RSET during BDAT may
// call Reset meanwhile, so the transaction state is guarded by mu and
// deliver works on a snapshot. conn.busy is read by Shutdown and is atomic.
type session struct {
	srv  *Server
	lmtp bool
	conn *trackedConn // nil only if the listener was not ours
	raw  *smtp.Conn
	log  *slog.Logger

	// Transaction state, cleared by Reset.
	mu       sync.Mutex
	sender   string
	mailSize int64 // SIZE= from MAIL, 0 when not given
	utf8     bool  // MAIL had SMTPUTF8 (RFC 6531)
	helo     string
	rcpts    []string
	targets  []target
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.LMTPSession = (*session)(nil)
)

func (s *Server) newSession(c *smtp.Conn, lmtp bool) (smtp.Session, error) {
	tc, _ := c.Conn().(*trackedConn)
	var id uint64
	if tc != nil {
		id = tc.id
	}
	proto := "smtp"
	if lmtp {
		proto = "lmtp"
	}
	return &session{
		srv:  s,
		lmtp: lmtp,
		conn: tc,
		raw:  c,
		log:  s.log.With("proto", proto, "conn", id, "remote", c.Conn().RemoteAddr().String(), "helo", c.Hostname()),
	}, nil
}

func (ss *session) setBusy(b bool) {
	if ss.conn != nil {
		ss.conn.busy.Store(b)
	}
}

// Mail starts a transaction (RFC 5321 §4.1.1.2). During Shutdown it is
// refused with 421 so the client goes elsewhere or retries.
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.srv.isClosing() {
		return replyShutdown
	}
	ss.mu.Lock()
	ss.sender = from
	ss.mailSize, ss.utf8 = 0, false
	ss.helo = ss.raw.Hostname() // read here, on the connection's goroutine
	if opts != nil {
		ss.mailSize, ss.utf8 = opts.Size, opts.UTF8
	}
	ss.mu.Unlock()
	ss.setBusy(true)
	return nil
}

// Rcpt resolves one recipient. Refusals (RFC 2033 §4.2 answers them here,
// before DATA): foreign domain 550 5.1.2 (SMTP: 550 5.7.1 relay denied),
// unknown user 550 5.1.1, full mailbox 552 5.2.2, store trouble 451 4.3.0.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.mu.Lock()
	size := ss.mailSize
	ss.mu.Unlock()
	t, err := ss.srv.resolveRecipient(to, size)
	if err != nil {
		reply := replyFor(err, !ss.lmtp)
		if reply.Code/100 == 4 {
			ss.log.Warn("rcpt lookup failed", "rcpt", to, "err", err)
		} else {
			ss.log.Info("rcpt refused", "rcpt", to, "reply", reply.Code, "err", err)
		}
		return reply
	}
	ss.mu.Lock()
	ss.rcpts = append(ss.rcpts, to)
	ss.targets = append(ss.targets, t)
	ss.mu.Unlock()
	return nil
}

// resolveRecipient turns an RCPT address into a target in the account's
// INBOX, checking the domain and (cheaply) the quota.
func (s *Server) resolveRecipient(to string, mailSize int64) (target, error) {
	local, domain := splitAddress(to)
	if local == "" {
		return target{}, replyBadAddress
	}
	if !isLocal(s.domains, domain) {
		return target{}, errForeignDomain
	}
	ctx := s.ctx
	key, now := rcptKey{local, domain}, time.Now()
	gen := s.opts.Store.Hub().AccountGeneration()
	e, ok := s.rcpts.get(key, gen, now)
	if !ok {
		acct, err := findAccount(ctx, s.opts.Store, local, domain)
		if err != nil {
			return target{}, err
		}
		mb, err := s.opts.Store.Mailbox(ctx, acct.ID, "INBOX")
		if err != nil {
			return target{}, err
		}
		e = rcptEntry{acct: acct, mailbox: mb.ID, gen: gen, at: now}
		s.rcpts.put(key, e)
	}
	if err := checkQuota(ctx, s.opts.Store, e.acct, mailSize); err != nil {
		return target{}, err
	}
	return target{account: e.acct.ID, mailbox: e.mailbox, deliveredTo: to}, nil
}

// Data is the SMTP DATA handler: one reply for all recipients. When some
// recipients got the message and others failed, it answers 451 so the
// client retries: on the retry RCPT refuses the failing ones properly and
// the others may get a duplicate — better than losing mail silently.
func (ss *session) Data(r io.Reader) error {
	_, replies, err := ss.deliver(r)
	if err != nil {
		return err
	}
	var failed *smtp.SMTPError
	ok := 0
	for _, rep := range replies {
		if rep.Code/100 == 2 {
			ok++
		} else if failed == nil || failed.Code/100 == 5 && rep.Code/100 == 4 {
			failed = rep // a temporary failure wins over a permanent one
		}
	}
	switch {
	case failed == nil && len(replies) == 1:
		return replies[0]
	case failed == nil:
		return nil
	case ok > 0:
		return replyTemporary
	default:
		return failed
	}
}

// LMTPData answers once per RCPT, in order (RFC 2033 §4.2).
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	rcpts, errs, err := ss.deliver(r)
	if err != nil {
		return err
	}
	for i, rcpt := range rcpts {
		status.SetStatus(rcpt, errs[i])
	}
	return nil
}

// deliver stores the message for every accepted recipient and returns the
// recipients with the reply of each (an *smtp.SMTPError; a 250 one on
// success), or one reply for all when the body could not be read.
func (ss *session) deliver(r io.Reader) ([]string, []*smtp.SMTPError, error) {
	ss.mu.Lock()
	sender, rcpts, targets, utf8, helo := ss.sender, ss.rcpts, ss.targets, ss.utf8, ss.helo
	ss.mu.Unlock()
	ss.setBusy(true)
	srv := ss.srv
	srv.inflight.Add(1)
	defer srv.inflight.Add(-1)

	body := r
	if ss.conn != nil {
		body = &deadlineReader{r: r, conn: ss.conn, timeout: srv.opts.ReadTimeout}
	}
	env := envelope{sender: sender, withReturnPath: true, targets: targets}
	if !ss.lmtp {
		env.received = ss.received(helo, utf8, time.Now())
	}
	results, errs, err := deliverEnvelope(srv.ctx, srv.opts.Store, env, body, srv.opts.MaxMessageSize, srv.spoolDir)
	if err != nil {
		reply := replyFor(err, !ss.lmtp)
		var be *bodyError
		if errors.As(err, &be) {
			ss.log.Info("message not received", "from", sender, "rcpts", len(rcpts), "reply", reply.Code, "err", err)
		} else {
			ss.log.Error("delivery failed", "from", sender, "rcpts", len(rcpts), "err", err)
		}
		return nil, nil, reply
	}
	replies := make([]*smtp.SMTPError, len(errs))
	for i, e := range errs {
		if e == nil {
			ss.log.Info("delivered", "from", sender, "rcpt", rcpts[i], "uid", results[i].UID)
			replies[i] = replySaved(results[i].UID)
			continue
		}
		reply := replyFor(e, !ss.lmtp)
		if errors.Is(e, store.ErrNoAccount) || errors.Is(e, store.ErrNoMailbox) {
			// RCPT found the account and its INBOX; they went away
			// before DATA. The retry gets RCPT's answer.
			srv.rcpts.forget()
			reply = replyTemporary
		}
		if reply.Code/100 == 4 {
			ss.log.Error("delivery failed", "from", sender, "rcpt", rcpts[i], "err", e)
		} else {
			ss.log.Info("delivery refused", "from", sender, "rcpt", rcpts[i], "reply", reply.Code, "err", e)
		}
		replies[i] = reply
	}
	return rcpts, replies, nil
}

// received is the Received trace field the SMTP listener must add (RFC
// 5321 §4.4; "UTF8SMTP" is RFC 6531 §3.7.7's protocol name). LMTP leaves it
// to the MTA in front, which has already written one.
func (ss *session) received(helo string, utf8 bool, now time.Time) string {
	proto := "ESMTP"
	if utf8 {
		proto = "UTF8SMTP"
	}
	remote := "unknown"
	if a, ok := ss.raw.Conn().RemoteAddr().(*net.TCPAddr); ok {
		remote = "[" + a.IP.String() + "]"
	}
	helo = sanitizeHeaderValue(strings.Map(func(r rune) rune {
		if r == '(' || r == ')' || r == ' ' {
			return '_'
		}
		return r
	}, helo))
	return "Received: from " + helo + " (" + remote + ")\r\n\tby " + sanitizeHeaderValue(ss.srv.opts.Hostname) +
		" with " + proto + ";\r\n\t" + now.Format(time.RFC1123Z) + "\r\n"
}

// Reset ends the transaction (RSET, after DATA, or a new greeting).
func (ss *session) Reset() {
	ss.mu.Lock()
	ss.sender = ""
	ss.mailSize, ss.utf8 = 0, false
	ss.rcpts = nil
	ss.targets = nil
	ss.mu.Unlock()
	ss.setBusy(false)
}

// Logout is called once when the connection ends.
func (ss *session) Logout() error {
	ss.Reset()
	return nil
}

// deadlineReader renews the connection's read deadline before each read of
// the message body, so a slow but live client is not cut off while a
// stalled one is (go-smtp sets the deadline only per command line).
type deadlineReader struct {
	r       io.Reader
	conn    *trackedConn
	timeout time.Duration
	last    time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	// Renewing costs a syscall; once a second is plenty.
	if now := time.Now(); now.Sub(d.last) > time.Second {
		d.last = now
		d.conn.Conn.SetReadDeadline(now.Add(d.timeout))
	}
	return d.r.Read(p)
}
