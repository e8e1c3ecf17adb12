package imapserver

import (
	"strings"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

// cmdStore: STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE
// (RFC 7162 §3.1.3).
func cmdStore(s *session, c *command) error {
	d := s.dec
	var set imapwire.SeqSet
	if !d.ExpectSP() || !d.ExpectSeqSet(&set) || !d.ExpectSP() {
		return nil
	}
	var unchangedSince uint64
	conditional := false
	if b, ok := d.PeekByte(); ok && b == '(' {
		if !d.ExpectList(func() bool {
			var m string
			if !d.Atom(&m) || !strings.EqualFold(m, "UNCHANGEDSINCE") {
				return false
			}
			conditional = true
			return d.ExpectSP() && d.ExpectNumber64(&unchangedSince)
		}) || !d.ExpectSP() {
			return nil
		}
	}
	var item string
	if !d.Expect(d.Word(func(b byte) bool {
		return b == '+' || b == '-' || b == '.' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z'
	}, &item), "store item") || !d.ExpectSP() {
		return nil
	}
	item = strings.ToUpper(item)
	op := store.FlagsReplace
	switch {
	case strings.HasPrefix(item, "+"):
		op, item = store.FlagsAdd, item[1:]
	case strings.HasPrefix(item, "-"):
		op, item = store.FlagsRemove, item[1:]
	}
	silent := strings.HasSuffix(item, ".SILENT")
	item = strings.TrimSuffix(item, ".SILENT")
	if item != "FLAGS" {
		d.Errorf("unknown store item")
		return nil
	}
	var flags []string
	if b, ok := d.PeekByte(); ok && b == '(' {
		if !d.FlagList(&flags) {
			d.Expect(false, "flag list")
			return nil
		}
	} else {
		for {
			var f string
			if !d.Expect(d.Flag(&f), "flag") {
				return nil
			}
			flags = append(flags, f)
			if !d.SP() {
				break
			}
		}
	}
	if !d.ExpectCRLF() {
		return nil
	}
	v := s.sel
	if v.readOnly {
		return errNo("READ-ONLY", "Mailbox is read-only")
	}
	flags, err := storableFlags(flags)
	if err != nil {
		return err
	}
	uids, err := v.resolve(set, c.uid)
	if err != nil {
		return err
	}
	if conditional {
		s.enabled.condstore = true
	}
	if len(uids) == 0 {
		return nil
	}
	if conditional && unchangedSince == 0 {
		// RFC 7162 §3.1.3: UNCHANGEDSINCE 0 always fails.
		c.code = "MODIFIED " + imapwire.FormatNumSet(s.seqsOrUIDs(v, uids, c.uid))
		return nil
	}
	updated, failed, err := s.srv.opts.Store.UpdateFlags(s.ctx, s.account.ID, v.mbox.ID, uids, op, flags, unchangedSince)
	if err != nil {
		return err
	}
	changed := map[store.UID]bool{}
	for _, up := range updated {
		if i := v.index(up.UID); i >= 0 {
			v.flags[i], v.modseqs[i] = up.Flags, up.ModSeq
			changed[up.UID] = true
		}
	}
	if len(updated) > 0 {
		v.appliedOwn(updated[0].ModSeq)
	}
	if len(updated) > 0 {
		lists := make([][]string, len(updated))
		for k, up := range updated {
			lists[k] = up.Flags
		}
		s.announceKeywords(v, lists...)
	}
	failedSet := map[store.UID]bool{}
	for _, u := range failed {
		failedSet[u] = true
	}
	for _, u := range uids {
		i := v.index(u)
		if i < 0 || failedSet[u] {
			continue
		}
		// RFC 7162 §3.2: with CONDSTORE, even .SILENT reports the new
		// MODSEQ of changed messages.
		if !silent || (s.enabled.condstore && changed[u]) {
			s.writeFlagsFetch(v, i, c.uid)
		}
	}
	if len(changed) > 0 {
		s.writeModSeqFloor(v)
	}
	if len(failed) > 0 {
		c.code = "MODIFIED " + imapwire.FormatNumSet(s.seqsOrUIDs(v, failed, c.uid))
	}
	return nil
}

// seqsOrUIDs returns uids as UIDs, or as sequence numbers for non-UID
// commands, sorted.
func (s *session) seqsOrUIDs(v *view, uids []store.UID, uid bool) []uint32 {
	out := make([]uint32, 0, len(uids))
	for _, u := range uids {
		if uid {
			out = append(out, uint32(u))
		} else if i := v.index(u); i >= 0 {
			out = append(out, uint32(i+1))
		}
	}
	return out
}

// cmdCopy: COPY, MOVE and their UID forms (RFC 9051 §6.4.7-8, RFC 6851),
// answering COPYUID (RFC 4315).
func cmdCopy(s *session, c *command) error {
	d := s.dec
	var set imapwire.SeqSet
	var dest string
	if !d.ExpectSP() || !d.ExpectSeqSet(&set) || !d.ExpectSP() || !d.ExpectMailbox(&dest) || !d.ExpectCRLF() {
		return nil
	}
	v := s.sel
	move := strings.HasSuffix(c.name, "MOVE")
	if move && v.readOnly {
		return errNo("READ-ONLY", "Mailbox is read-only")
	}
	uids, err := v.resolve(set, c.uid)
	if err != nil {
		return err
	}
	st := s.srv.opts.Store
	dst, err := st.Mailbox(s.ctx, s.account.ID, dest)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	var src, dstUIDs []store.UID
	var validity uint32
	if move {
		src, dstUIDs, validity, err = st.Move(s.ctx, s.account.ID, v.mbox.ID, uids, dst.ID)
	} else {
		src, dstUIDs, validity, err = st.Copy(s.ctx, s.account.ID, v.mbox.ID, uids, dst.ID)
	}
	if err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	code := "COPYUID " + itoa(validity) + " " + imapwire.FormatNumSet(toNums(src)) + " " + imapwire.FormatNumSet(toNums(dstUIDs))
	if !move {
		c.code = code
		return nil
	}
	// RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
	s.enc.Atom("* OK [").Atom(code).Atom("] Moved").CRLF()
	s.writeExpunges(v, src)
	return nil
}

func toNums(uids []store.UID) []uint32 {
	out := make([]uint32, len(uids))
	for i, u := range uids {
		out[i] = uint32(u)
	}
	return out
}
