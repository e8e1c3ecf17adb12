package imapserver

import (
	"strings"

	"github.com/postern/postern/internal/store"
)

// specialUses are the RFC 6154 attributes a mailbox may carry.
var specialUses = []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`}

// cmdCreate: CREATE (RFC 9051 §6.3.4) with the USE parameter of
// CREATE-SPECIAL-USE (RFC 6154 §3).
func cmdCreate(s *session, c *command) error {
	d := s.dec
	var name string
	if !d.ExpectSP() || !d.ExpectMailbox(&name) {
		return nil
	}
	use, tooMany := "", false
	if d.SP() {
		if !d.ExpectList(func() bool {
			var p string
			if !d.Atom(&p) || !strings.EqualFold(p, "USE") || !d.ExpectSP() {
				d.Expect(false, "USE")
				return false
			}
			return d.ExpectList(func() bool {
				var f string
				if !d.Flag(&f) {
					return false
				}
				if use != "" {
					tooMany = true
				}
				use = f
				return true
			})
		}) {
			return nil
		}
	}
	if !d.ExpectCRLF() {
		return nil
	}
	if tooMany {
		return errNo("USEATTR", "Only one special-use attribute per mailbox")
	}
	if use != "" {
		ok := false
		for _, u := range specialUses {
			if strings.EqualFold(u, use) {
				use, ok = u, true
			}
		}
		if !ok {
			return errNo("USEATTR", "Unsupported special-use attribute")
		}
	}
	// RFC 9051 §6.3.4: a trailing separator only says the client intends
	// to create children.
	name = strings.TrimRight(name, "/")
	if name == "" {
		return errBad("Empty mailbox name")
	}
	if name == "INBOX" {
		return errNo("ALREADYEXISTS", "INBOX always exists")
	}
	_, err := s.srv.opts.Store.CreateMailbox(s.ctx, s.account.ID, name, use)
	return err
}

// cmdDelete: DELETE (RFC 9051 §6.3.5).
func cmdDelete(s *session, c *command) error {
	d := s.dec
	var name string
	if !d.ExpectSP() || !d.ExpectMailbox(&name) || !d.ExpectCRLF() {
		return nil
	}
	if name == "INBOX" {
		return errNo("CANNOT", "INBOX cannot be deleted")
	}
	return s.srv.opts.Store.DeleteMailbox(s.ctx, s.account.ID, name)
}

// cmdRename: RENAME (RFC 9051 §6.3.6).
func cmdRename(s *session, c *command) error {
	d := s.dec
	var from, to string
	if !d.ExpectSP() || !d.ExpectMailbox(&from) || !d.ExpectSP() || !d.ExpectMailbox(&to) || !d.ExpectCRLF() {
		return nil
	}
	to = strings.TrimRight(to, "/")
	if to == "INBOX" {
		return errNo("ALREADYEXISTS", "INBOX always exists")
	}
	return s.srv.opts.Store.RenameMailbox(s.ctx, s.account.ID, from, to)
}

// cmdSubscribe: SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7-8).
func cmdSubscribe(s *session, c *command) error {
	d := s.dec
	var name string
	if !d.ExpectSP() || !d.ExpectMailbox(&name) || !d.ExpectCRLF() {
		return nil
	}
	on := c.name == "SUBSCRIBE"
	if on {
		// RFC 9051 §6.3.7 allows refusing names that do not exist.
		if _, err := s.srv.opts.Store.Mailbox(s.ctx, s.account.ID, name); err != nil {
			return err
		}
	}
	return s.srv.opts.Store.SetSubscribed(s.ctx, s.account.ID, name, on)
}

// cmdNamespace: NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal
// namespace with "/" as separator.
func cmdNamespace(s *session, c *command) error {
	if !s.dec.ExpectCRLF() {
		return nil
	}
	s.enc.Atom(`* NAMESPACE (("" "/")) NIL NIL`).CRLF()
	return nil
}

// statusItems are the STATUS data items a client asked for, in order.
type statusItems []string

// readStatusItems reads "(" status-att *(SP status-att) ")".
func (s *session) readStatusItems() (statusItems, bool) {
	d := s.dec
	var items statusItems
	ok := d.ExpectList(func() bool {
		var a string
		if !d.Atom(&a) {
			return false
		}
		a = strings.ToUpper(a)
		switch a {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID":
			items = append(items, a)
			return true
		}
		d.Errorf("unknown status item %s", sanitize(a))
		return false
	})
	return items, ok
}

// cmdStatus: STATUS (RFC 9051 §6.3.11) with SIZE (RFC 8438), APPENDLIMIT
// (RFC 7889), HIGHESTMODSEQ (RFC 7162) and MAILBOXID (RFC 8474).
func cmdStatus(s *session, c *command) error {
	d := s.dec
	var name string
	if !d.ExpectSP() || !d.ExpectMailbox(&name) || !d.ExpectSP() {
		return nil
	}
	items, ok := s.readStatusItems()
	if !ok || !d.ExpectCRLF() {
		return nil
	}
	mb, err := s.srv.opts.Store.Mailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	return s.writeStatus(mb, items)
}

// writeStatus sends one STATUS response.
func (s *session) writeStatus(mb store.Mailbox, items statusItems) error {
	st, err := s.srv.opts.Store.Status(s.ctx, s.account.ID, mb.ID)
	if err != nil {
		return err
	}
	e := &s.enc
	e.Atom("* STATUS ").Mailbox(mb.Name).Atom(" (")
	for i, it := range items {
		if i > 0 {
			e.SP()
		}
		e.Atom(it).SP()
		switch it {
		case "MESSAGES":
			e.Number64(uint64(st.Messages))
		case "UIDNEXT":
			e.Number(uint32(st.UIDNext))
		case "UIDVALIDITY":
			e.Number(st.UIDValidity)
		case "UNSEEN":
			e.Number64(uint64(st.Unseen))
		case "DELETED":
			e.Number64(uint64(st.Deleted))
		case "SIZE":
			e.Number64(uint64(st.Size))
		case "RECENT":
			e.Number64(uint64(st.Recent))
		case "HIGHESTMODSEQ":
			s.enabled.condstore = true
			e.Number64(st.HighestModSeq)
		case "APPENDLIMIT":
			e.Number64(uint64(s.srv.opts.MaxMessageSize))
		case "MAILBOXID":
			e.Byte('(').Atom(st.ObjectID).Byte(')')
		}
	}
	e.Byte(')').CRLF()
	return nil
}
