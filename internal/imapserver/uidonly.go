package imapserver

// UIDONLY (RFC 9586): after ENABLE UIDONLY the client and server speak of
// messages by UID only. Commands taking message sequence numbers are
// refused with BAD [UIDREQUIRED] (§3), FETCH responses become UIDFETCH
// responses keyed by UID (§3.3), and expunges are told with VANISHED
// (§3.2). Large mailboxes gain because neither side keeps a sequence
// number map in step.

// errUIDRequired answers a sequence-number command under UIDONLY.
var errUIDRequired = &respError{bad: true, code: "UIDREQUIRED", text: "Message sequence numbers are not allowed after ENABLE UIDONLY"}

// uidRequired wraps the handler of a command that has a UID form: under
// UIDONLY its sequence-number form is refused before its arguments are
// read, so the rest of the line is skipped here.
func uidRequired(run func(*session, *command) error) func(*session, *command) error {
	return func(s *session, c *command) error {
		if !s.enabled.uidOnly || c.uid {
			return run(s, c)
		}
		if !s.dec.DiscardLine(maxDiscard) {
			return s.bye("Line too long")
		}
		c.lineDone = true
		return errUIDRequired
	}
}

// fetchHead starts an untagged FETCH response for the message at index i
// of the view: "* seq FETCH (" or, under UIDONLY, "* uid UIDFETCH (". It
// reports whether the UID item is implied (UIDFETCH) and must be left out.
func (s *session) fetchHead(v *view, i int) (uidImplied bool) {
	if s.enabled.uidOnly {
		s.enc.Atom("* ").Number(uint32(v.uids[i])).Atom(" UIDFETCH (")
		return true
	}
	s.enc.Atom("* ").Number(uint32(i + 1)).Atom(" FETCH (")
	return false
}
