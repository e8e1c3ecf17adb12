package imapserver

import (
	"slices"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

var systemFlags = []string{store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagSeen, store.FlagDraft}

// cmdSelect: SELECT and EXAMINE (RFC 9051 §6.3.2-3), with the CONDSTORE
// select parameter (RFC 7162 §3.1.8).
func cmdSelect(s *session, c *command) error {
	d := s.dec
	var name string
	if !d.ExpectSP() || !d.ExpectMailbox(&name) {
		return nil
	}
	condstore := false
	var qr *qresyncParams
	if d.SP() {
		if !d.ExpectList(func() bool {
			var p string
			if !d.Atom(&p) {
				return false
			}
			switch strings.ToUpper(p) {
			case "CONDSTORE":
				condstore = true
				return true
			case "QRESYNC":
				qr = &qresyncParams{}
				return d.ExpectSP() && s.readQresync(qr)
			}
			d.Errorf("unknown select parameter %s", sanitize(p))
			return false
		}) {
			return nil
		}
	}
	if !d.ExpectCRLF() {
		return nil
	}
	if qr != nil && !s.enabled.qresync {
		// RFC 7162 §3.2.5: QRESYNC needs ENABLE QRESYNC first.
		return errBad("QRESYNC parameter without ENABLE QRESYNC")
	}
	if qr != nil && qr.seqMatch != nil && s.enabled.uidOnly {
		// RFC 9586 §3: no sequence numbers anywhere under UIDONLY.
		return errUIDRequired
	}
	if s.sel != nil {
		// RFC 9051 §6.3.2: a SELECT closes the current mailbox first.
		s.deselect()
		s.enc.Atom("* OK [CLOSED] Previous mailbox closed").CRLF()
	}
	if condstore {
		s.enabled.condstore = true
	}
	st := s.srv.opts.Store
	mb, err := st.Mailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	// Subscribe before reading the state so no change falls between
	// (NOTIFY may hold a subscription already).
	if s.sub == nil {
		s.sub = st.Hub().Subscribe(s.account.ID)
	}
	refs, err := st.MessageRefs(s.ctx, s.account.ID, mb.ID)
	if err != nil {
		s.deselect()
		return err
	}
	// Room for the messages that arrive while the mailbox is selected, so
	// that a delivery to thousands of sessions does not copy thousands of
	// views.
	n, room := len(refs), len(refs)+len(refs)/8+16
	v := &view{
		mbox:       mb,
		readOnly:   c.name == "EXAMINE",
		noRecent:   s.enabled.rev2,
		uids:       make([]store.UID, n, room),
		flags:      make([][]string, n, room),
		modseqs:    make([]uint64, n, room),
		syncModSeq: mb.HighestModSeq,
	}
	for i, r := range refs {
		v.uids[i], v.flags[i], v.modseqs[i] = r.UID, r.Flags, r.ModSeq
		if r.ModSeq > v.syncModSeq {
			v.syncModSeq = r.ModSeq
		}
	}
	// EXAMINE shows \Recent without taking it away from the next SELECT
	// (RFC 3501 §6.3.2); SELECT claims it for this session alone.
	first := mb.FirstRecentUID
	if !v.readOnly {
		var err error
		first, err = st.ClaimRecent(s.ctx, s.account.ID, mb.ID, v.lastUID())
		if err != nil {
			s.deselect()
			return err
		}
	}
	if first > 0 {
		for _, u := range v.uids {
			if u >= first {
				v.markRecent(u)
			}
		}
	}
	uidNext := mb.UIDNext
	if l := v.lastUID(); l >= uidNext {
		uidNext = l + 1
	}
	flags := slices.Clone(systemFlags)
	firstUnseen := 0
	for i, fl := range v.flags {
		for _, f := range fl {
			if !strings.HasPrefix(f, `\`) && !hasFlag(flags, f) {
				flags = append(flags, f)
			}
		}
		if firstUnseen == 0 && !hasFlag(fl, store.FlagSeen) {
			firstUnseen = i + 1
		}
	}
	v.flagNames = flags
	e := &s.enc
	e.Atom("* FLAGS ").Flags(flags).CRLF()
	e.Atom("* ").Number(uint32(len(v.uids))).Atom(" EXISTS").CRLF()
	if !s.enabled.rev2 {
		e.Atom("* ").Number(uint32(len(v.recent))).Atom(" RECENT").CRLF()
		if firstUnseen > 0 && !s.enabled.uidOnly { // a sequence number (RFC 9586 §3)
			e.Atom("* OK [UNSEEN ").Number(uint32(firstUnseen)).Atom("] First unseen message").CRLF()
		}
	}
	e.Atom("* OK [UIDVALIDITY ").Number(mb.UIDValidity).Atom("] UIDs valid").CRLF()
	e.Atom("* OK [UIDNEXT ").Number(uint32(uidNext)).Atom("] Predicted next UID").CRLF()
	if v.readOnly {
		e.Atom("* OK [PERMANENTFLAGS ()] No permanent flags permitted").CRLF()
	} else {
		e.Atom("* OK [PERMANENTFLAGS ").Flags(append(slices.Clip(flags), `\*`)).Atom("] Flags permitted").CRLF()
	}
	e.Atom("* OK [HIGHESTMODSEQ ").Number64(v.syncModSeq).Atom("] Highest").CRLF()
	if mb.ObjectID != "" {
		e.Atom("* OK [MAILBOXID (").Atom(mb.ObjectID).Atom(")] Ok").CRLF()
	}
	if s.enabled.rev2 {
		// RFC 9051 §6.3.2: the server returns a LIST response with the
		// mailbox name.
		e.Atom("* LIST () \"/\" ").Mailbox(mb.Name).CRLF()
	}
	if qr != nil {
		if err := s.qresyncSelect(v, qr); err != nil {
			s.deselect()
			return err
		}
	}
	s.sel = v
	s.state = stateSelected
	if v.readOnly {
		c.code = "READ-ONLY"
		c.text = "EXAMINE completed"
	} else {
		c.code = "READ-WRITE"
		c.text = "SELECT completed"
	}
	return nil
}

// deselect leaves the selected state and stops listening to the hub:
// only a selected mailbox (or NOTIFY) needs change events, and an
// unselected session should hold no queue.
func (s *session) deselect() {
	s.sel = nil
	s.state = stateAuthenticated
	if s.sub != nil && s.notify == nil {
		s.sub.Close()
		s.sub = nil
	}
}

// cmdClose: CLOSE (RFC 9051 §6.4.1) expunges \Deleted messages silently;
// UNSELECT (RFC 3691) does not.
func cmdClose(s *session, c *command) error {
	if !s.dec.ExpectCRLF() {
		return nil
	}
	v := s.sel
	s.deselect()
	if c.name == "CLOSE" && !v.readOnly {
		var del []store.UID
		for i, fl := range v.flags {
			if hasFlag(fl, store.FlagDeleted) {
				del = append(del, v.uids[i])
			}
		}
		if len(del) > 0 {
			if _, err := s.srv.opts.Store.Expunge(s.ctx, s.account.ID, v.mbox.ID, del); err != nil {
				return err
			}
		}
	}
	return nil
}

// cmdExpunge: EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1).
func cmdExpunge(s *session, c *command) error {
	d := s.dec
	var set imapwire.SeqSet
	if c.uid && (!d.ExpectSP() || !d.ExpectSeqSet(&set)) {
		return nil
	}
	if !d.ExpectCRLF() {
		return nil
	}
	v := s.sel
	if v.readOnly {
		return errNo("READ-ONLY", "Mailbox is read-only")
	}
	if err := s.sync(true); err != nil {
		return err
	}
	var within []store.UID
	if c.uid {
		var err error
		if within, err = v.resolve(set, true); err != nil {
			return err
		}
	} else {
		within = v.uids
	}
	var del []store.UID
	for _, u := range within {
		if i := v.index(u); i >= 0 && hasFlag(v.flags[i], store.FlagDeleted) {
			del = append(del, u)
		}
	}
	if len(del) == 0 {
		return nil
	}
	gone, err := s.srv.opts.Store.Expunge(s.ctx, s.account.ID, v.mbox.ID, del)
	if err != nil {
		return err
	}
	s.writeExpunges(v, gone)
	if s.enabled.condstore {
		// As RFC 7162's EXPUNGE examples show, the tagged OK names
		// the HIGHESTMODSEQ it produced. Every change up to it reaches
		// the client before the tagged response (finish syncs first).
		if mb, err := s.srv.opts.Store.MailboxByID(s.ctx, s.account.ID, v.mbox.ID); err == nil {
			c.code = "HIGHESTMODSEQ " + strconv.FormatUint(mb.HighestModSeq, 10)
		}
	}
	return nil
}
