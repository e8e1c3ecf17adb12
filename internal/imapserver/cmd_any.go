package imapserver

import (
	"strings"
)

// cmdCapability: CAPABILITY (RFC 9051 §6.1.1).
func cmdCapability(s *session, c *command) error {
	if !s.dec.ExpectCRLF() {
		return nil
	}
	s.enc.Atom("* CAPABILITY ").Atom(strings.Join(s.capabilities(), " ")).CRLF()
	return nil
}

// cmdNoop: NOOP and CHECK; the pending updates go out in finish.
func cmdNoop(s *session, c *command) error {
	s.dec.ExpectCRLF()
	return nil
}

// cmdLogout: LOGOUT (RFC 9051 §6.1.3).
func cmdLogout(s *session, c *command) error {
	if !s.dec.ExpectCRLF() {
		return nil
	}
	s.state = stateLogout
	s.enc.Atom("* BYE Logging out").CRLF()
	s.enc.Atom(c.tag).Atom(" OK LOGOUT completed").CRLF()
	s.enc.Flush()
	return errLogout
}

// cmdID: ID (RFC 2971). The client's parameters are read and ignored.
func cmdID(s *session, c *command) error {
	d := s.dec
	if !d.ExpectSP() {
		return nil
	}
	var isNil bool
	var dummy string
	if !d.NString(&dummy, &isNil) {
		if d.Err() != nil {
			return nil
		}
		n := 0
		if !d.ExpectList(func() bool {
			var v string
			var vnil bool
			n++
			if n > 60 {
				d.Errorf("too many ID parameters")
				return false
			}
			return d.String(&v) || d.NString(&v, &vnil)
		}) {
			return nil
		}
	}
	if !d.ExpectCRLF() {
		return nil
	}
	s.enc.Atom(`* ID ("name" "postern" "vendor" "postern")`).CRLF()
	return nil
}

// cmdEnable: ENABLE (RFC 5161). Known extensions: IMAP4rev2 (RFC 9051
// §6.3.1), UTF8=ACCEPT (RFC 6855), CONDSTORE (RFC 7162).
func cmdEnable(s *session, c *command) error {
	d := s.dec
	var names []string
	for d.SP() {
		var a string
		if !d.ExpectAtom(&a) {
			return nil
		}
		names = append(names, a)
	}
	if !d.Expect(len(names) > 0, "capability") || !d.ExpectCRLF() {
		return nil
	}
	var on []string
	for _, n := range names {
		switch strings.ToUpper(n) {
		case "IMAP4REV2":
			if !s.enabled.rev2 {
				s.enabled.rev2 = true
				on = append(on, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !s.enabled.utf8 {
				s.enabled.utf8 = true
				on = append(on, "UTF8=ACCEPT")
			}
		case "CONDSTORE":
			if !s.enabled.condstore {
				s.enabled.condstore = true
				on = append(on, "CONDSTORE")
			}
		case "UIDONLY":
			if !s.enabled.uidOnly {
				s.enabled.uidOnly = true
				on = append(on, "UIDONLY")
			}
		case "QRESYNC":
			// RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
			if !s.enabled.qresync {
				s.enabled.qresync, s.enabled.condstore = true, true
				on = append(on, "QRESYNC")
			}
		}
	}
	utf8 := s.enabled.rev2 || s.enabled.utf8
	s.dec.UTF8, s.enc.UTF8 = utf8, utf8
	s.enc.Atom("* ENABLED")
	for _, n := range on {
		s.enc.SP().Atom(n)
	}
	s.enc.CRLF()
	return nil
}
