package pop3server

import (
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/textline"
)

// message resolves a message-number argument; it answers -ERR itself and
// returns nil for a bad number, one out of range or one marked deleted
// (RFC 1939 §5: such messages may not be referred to).
func (s *session) message(arg string) *maildropMessage {
	n, ok := parseMsgNum(arg)
	if !ok {
		s.reply("-ERR Invalid message number")
		return nil
	}
	if n < 1 || n > len(s.drop) {
		s.reply("-ERR No such message")
		return nil
	}
	m := &s.drop[n-1]
	if m.deleted {
		s.reply("-ERR Message ", strconv.Itoa(n), " already deleted")
		return nil
	}
	return m
}

// cmdStat: "+OK count size" of the messages not marked deleted (§5).
func (s *session) cmdStat(arg string) error {
	if arg != "" {
		s.reply("-ERR STAT takes no arguments")
		return nil
	}
	count, size := s.drop.stat()
	s.reply("+OK ", strconv.Itoa(count), " ", strconv.FormatInt(size, 10))
	return nil
}

// cmdList gives sizes: exact octets of the message as RETR sends it (CRLF
// line ends, a missing final line end added), before dot-stuffing (§5,
// RFC 1939 §11).
func (s *session) cmdList(arg string) error {
	return s.listing(arg, func(n int, m *maildropMessage) string {
		return strconv.FormatInt(m.size, 10)
	})
}

// cmdUidl gives unique-id listings (RFC 1939 §7).
func (s *session) cmdUidl(arg string) error {
	return s.listing(arg, func(n int, m *maildropMessage) string { return s.uidl(m) })
}

func (s *session) listing(arg string, value func(n int, m *maildropMessage) string) error {
	f := fields(arg)
	switch len(f) {
	case 0:
		count, size := s.drop.stat()
		s.reply("+OK ", strconv.Itoa(count), " messages (", strconv.FormatInt(size, 10), " octets)")
		for i := range s.drop {
			if m := &s.drop[i]; !m.deleted {
				s.reply(strconv.Itoa(i+1), " ", value(i+1, m))
			}
		}
		s.reply(".")
	case 1:
		if m := s.message(f[0]); m != nil {
			n, _ := parseMsgNum(f[0])
			s.reply("+OK ", strconv.Itoa(n), " ", value(n, m))
		}
	default:
		s.reply("-ERR Too many arguments")
	}
	return nil
}

// cmdRetr sends a whole message, dot-stuffed, streamed from the store.
func (s *session) cmdRetr(arg string) error {
	f := fields(arg)
	if len(f) != 1 {
		s.reply("-ERR Syntax: RETR msg")
		return nil
	}
	m := s.message(f[0])
	if m == nil {
		return nil
	}
	if err := s.sendMessage(m, -1); err != nil {
		return err
	}
	m.retrieved = true
	return nil
}

// cmdTop sends the header and the first n body lines (RFC 1939 §7).
func (s *session) cmdTop(arg string) error {
	f := fields(arg)
	if len(f) != 2 {
		s.reply("-ERR Syntax: TOP msg n")
		return nil
	}
	m := s.message(f[0])
	if m == nil {
		return nil
	}
	lines, ok := parseMsgNum(f[1])
	if !ok {
		s.reply("-ERR Invalid line count")
		return nil
	}
	return s.sendMessage(m, lines)
}

// sendMessage streams a message body through the dot-stuffer; lines < 0
// means the whole message. Once "+OK" has gone out a store failure cannot
// be reported, so it ends the session (the client sees a cut response and
// nothing is deleted).
func (s *session) sendMessage(m *maildropMessage, lines int) error {
	body, err := s.srv.opts.Store.OpenBody(s.ctx, m.blobID)
	if err != nil {
		s.replyErr("Reading message", err)
		return nil
	}
	defer body.Close()
	if lines < 0 {
		s.reply("+OK ", strconv.FormatInt(m.size, 10), " octets")
	} else {
		s.reply("+OK Top of message follows")
	}
	dw := textline.NewDotWriter(s.out)
	var dst io.Writer = dw
	if lines >= 0 {
		dst = newTopWriter(dw, lines)
	}
	buf := s.srv.copyBf.Get()
	defer s.srv.copyBf.Put(buf)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				if errors.Is(werr, errTopDone) {
					break
				}
				return werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.log.Error("pop3 reading message body", "uid", m.uid, "err", rerr)
			return rerr
		}
	}
	return dw.Close()
}

// cmdDele marks a message; the store changes only at QUIT (§6).
func (s *session) cmdDele(arg string) error {
	f := fields(arg)
	if len(f) != 1 {
		s.reply("-ERR Syntax: DELE msg")
		return nil
	}
	m := s.message(f[0])
	if m == nil {
		return nil
	}
	m.deleted = true
	s.reply("+OK Message ", f[0], " deleted")
	return nil
}

// cmdRset unmarks every deleted message (§5). Messages already retrieved
// stay retrieved (they will still get \Seen, and with EXPIRE 0 they are
// still deleted at QUIT).
func (s *session) cmdRset(arg string) error {
	if arg != "" {
		s.reply("-ERR RSET takes no arguments")
		return nil
	}
	for i := range s.drop {
		s.drop[i].deleted = false
	}
	count, size := s.drop.stat()
	s.reply("+OK Maildrop has ", strconv.Itoa(count), " messages (", strconv.FormatInt(size, 10), " octets)")
	return nil
}

func (s *session) cmdNoop(arg string) error {
	if arg != "" {
		s.reply("-ERR NOOP takes no arguments")
		return nil
	}
	s.reply("+OK")
	return nil
}

// update is the UPDATE state (RFC 1939 §6): retrieved messages get \Seen,
// marked ones are expunged, and +OK goes out only after the store has made
// that durable. IMAP sessions see ordinary expunges through the hub.
//
// The EXPIRE policy (RFC 2449 §6.7) acts here too: with EXPIRE 0 the
// retrieved messages are expunged with the marked ones; with EXPIRE n > 0
// their first retrieval time is recorded, and login expunges them once it
// is n days old (expireRetrieved).
func (s *session) update() error {
	s.state = stateUpdate
	expire := s.srv.expireDays
	var deleted, seen, retrieved []store.UID
	for i := range s.drop {
		m := &s.drop[i]
		switch {
		case m.deleted, m.retrieved && expire == 0:
			deleted = append(deleted, m.uid)
		case m.retrieved:
			retrieved = append(retrieved, m.uid)
			if !m.seen {
				seen = append(seen, m.uid)
			}
		}
	}
	st := s.srv.opts.Store
	if len(seen) > 0 && s.account.Settings[settingMarkSeen] != "no" {
		if _, _, err := st.UpdateFlags(s.ctx, s.account.ID, s.mailbox.ID, seen, store.FlagsAdd, []string{store.FlagSeen}, 0); err != nil {
			s.log.Warn("pop3 marking retrieved messages seen", "err", err)
		}
	}
	if len(retrieved) > 0 && expire > 0 {
		if err := st.MarkRetrieved(s.ctx, s.account.ID, s.mailbox.ID, retrieved, time.Now()); err != nil {
			// They will be kept longer than announced, not lost.
			s.log.Warn("pop3 recording retrieval for EXPIRE", "err", err)
		}
	}
	if len(deleted) > 0 {
		if _, err := st.Expunge(s.ctx, s.account.ID, s.mailbox.ID, deleted); err != nil {
			s.log.Error("pop3 update: expunge", "err", err)
			s.unlock()
			s.reply("-ERR [SYS/TEMP] Some deleted messages not removed")
			return errCloseSession
		}
	}
	left := len(s.drop) - len(deleted)
	// The lock goes before the answer: a client that reconnects as soon
	// as it reads +OK must find the maildrop free.
	s.unlock()
	s.reply("+OK Bye, ", strconv.Itoa(left), " messages left")
	return errCloseSession
}
