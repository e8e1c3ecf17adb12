package imapserver

import (
	"bytes"
	"io"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/message"
	"github.com/postern/postern/internal/store"
)

// cmdFetch: FETCH and UID FETCH (RFC 9051 §6.4.5), with CONDSTORE's
// CHANGEDSINCE and MODSEQ (RFC 7162), BINARY (RFC 3516), SAVEDATE (RFC
// 8514), PREVIEW (RFC 8970) and EMAILID/THREADID (RFC 8474).
func cmdFetch(s *session, c *command) error {
	req, ok := s.readFetch()
	if !ok {
		return nil
	}
	v := s.sel
	if req.vanished && (!c.uid || !s.enabled.qresync || req.changedSince == 0) {
		// RFC 7162 §3.2.6: VANISHED needs UID FETCH, QRESYNC and
		// CHANGEDSINCE.
		return errBad("VANISHED needs UID FETCH with CHANGEDSINCE after ENABLE QRESYNC")
	}
	if req.changedSince > 0 {
		// The view's mod-sequences must be current before filtering by
		// them; expunges may go out first only for UID FETCH (RFC 9051
		// §7.5.1).
		if err := s.sync(c.uid); err != nil {
			return err
		}
	}
	var uids []store.UID
	var err error
	if req.changedSince > 0 {
		uids, err = v.resolveChanged(req.set, c.uid, req.changedSince)
	} else {
		uids, err = v.resolve(req.set, c.uid)
	}
	if err != nil {
		return err
	}
	if req.vanished {
		if err := s.writeVanishedEarlier(v, req.changedSince, req.set); err != nil {
			return err
		}
	}
	atts := req.atts
	hasKind := func(k fetchKind) bool {
		for _, a := range atts {
			if a.kind == k {
				return true
			}
		}
		return false
	}
	// RFC 7162 §3.2: with QRESYNC on, FETCH responses carry the UID.
	if (c.uid || s.enabled.qresync) && !hasKind(fetchUID) {
		atts = append([]fetchAtt{{kind: fetchUID}}, atts...)
	}
	if req.changedSince > 0 {
		s.enabled.condstore = true
	}
	if (req.changedSince > 0 || hasKind(fetchModSeq)) && !hasKind(fetchModSeq) {
		atts = append(atts, fetchAtt{kind: fetchModSeq})
	}
	if hasKind(fetchModSeq) {
		s.enabled.condstore = true
	}
	opts := store.FetchOptions{}
	setSeen := false
	for _, a := range atts {
		switch a.kind {
		case fetchEnvelope:
			opts.Envelope = true
		case fetchBody, fetchBodyStructure:
			opts.BodyStructure = true
		case fetchSection, fetchBinary, fetchBinarySize:
			opts.Structure = true
			if !a.peek {
				setSeen = true
			}
		case fetchPreview:
			opts.Preview = true
		}
	}
	// FETCH (UID FLAGS), a synchronizing client's flag scan, and
	// CHANGEDSINCE (MODSEQ) need nothing but the index of flags.
	opts.FlagsOnly = true
	for _, a := range atts {
		if a.kind != fetchUID && a.kind != fetchFlags && a.kind != fetchModSeq {
			opts.FlagsOnly = false
		}
	}
	if len(uids) == 0 {
		return nil
	}
	// Messages whose \Seen this FETCH sets get FLAGS in their response
	// (RFC 9051 §6.4.5, BODY[]).
	seenNow := map[store.UID]bool{}
	if setSeen && !v.readOnly {
		var unseen []store.UID
		for _, u := range uids {
			if i := v.index(u); i >= 0 && !hasFlag(v.flags[i], store.FlagSeen) {
				unseen = append(unseen, u)
			}
		}
		if len(unseen) > 0 {
			updated, _, err := s.srv.opts.Store.UpdateFlags(s.ctx, s.account.ID, v.mbox.ID, unseen, store.FlagsAdd, []string{store.FlagSeen}, 0)
			if err != nil {
				return err
			}
			for _, up := range updated {
				if i := v.index(up.UID); i >= 0 {
					v.flags[i], v.modseqs[i] = up.Flags, up.ModSeq
					seenNow[up.UID] = true
				}
			}
			if len(updated) > 0 {
				v.appliedOwn(updated[0].ModSeq)
			}
		}
	}
	var failure error
	progress := s.newProgress(c.tag, len(uids))
	err = s.srv.opts.Store.Fetch(s.ctx, s.account.ID, v.mbox.ID, uids, opts, func(m *store.Message) error {
		defer progress.step()
		i := v.index(m.UID)
		if i < 0 {
			return nil
		}
		if err := s.writeFetch(v, i, m, atts, seenNow[m.UID]); err != nil {
			if _, ok := err.(*respError); ok {
				failure = err
				return nil
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return failure
}

// binaryPart finds the octets and transfer encoding of a BINARY section,
// or the error to answer (checked before a response starts).
func binaryPart(m *store.Message, a fetchAtt) (start, end int64, enc string, err error) {
	if len(a.sec.path) == 0 {
		return 0, m.Size, "", nil
	}
	root := m.Structure
	if root == nil {
		root = &message.Part{End: m.Size, Encoding: "7BIT"}
	}
	p := root.Section(a.sec.path)
	if p == nil {
		return 0, 0, "", errNo("NONEXISTENT", "No such message part")
	}
	if p.IsMultipart() {
		return 0, 0, "", errNo("", "BINARY of a multipart part is not defined")
	}
	if !message.KnownTransferEncoding(p.Encoding) {
		return 0, 0, "", errNo("UNKNOWN-CTE", "Unknown Content-Transfer-Encoding "+sanitize(p.Encoding))
	}
	return p.BodyStart, p.End, p.Encoding, nil
}

// writeFetch writes one "* n FETCH (...)" response.
func (s *session) writeFetch(v *view, i int, m *store.Message, atts []fetchAtt, withFlags bool) error {
	for _, a := range atts {
		if a.kind == fetchBinary || a.kind == fetchBinarySize {
			if _, _, _, err := binaryPart(m, a); err != nil {
				return err
			}
		}
	}
	e := &s.enc
	uidImplied := s.fetchHead(v, i)
	first := true
	sep := func() {
		if !first {
			e.SP()
		}
		first = false
	}
	var body store.Body
	defer func() {
		if body != nil {
			body.Close()
		}
	}()
	open := func() (store.Body, error) {
		if body == nil {
			b, err := s.srv.opts.Store.OpenBody(s.ctx, m.BlobID)
			if err != nil {
				return nil, err
			}
			body = b
		}
		return body, nil
	}
	flagsDone := false
	for _, a := range atts {
		switch a.kind {
		case fetchUID:
			if uidImplied {
				continue
			}
			sep()
			e.Atom("UID ").Number(uint32(m.UID))
		case fetchFlags:
			// The client learns the current flags here, so the view
			// takes them (a later sync then has nothing to repeat).
			// Without FLAGS in the response the view stays as the
			// client knows it, and sync reports the change.
			v.flags[i], v.modseqs[i] = m.Flags, m.ModSeq
			sep()
			e.Atom("FLAGS ").Flags(v.flagsWithRecent(i))
			flagsDone = true
		case fetchInternalDate:
			sep()
			e.Atom(`INTERNALDATE "`).Atom(imapwire.FormatDateTime(m.InternalDate)).Byte('"')
		case fetchSize:
			sep()
			e.Atom("RFC822.SIZE ").Number64(uint64(m.Size))
		case fetchEnvelope:
			sep()
			e.Atom("ENVELOPE ").Raw(orNIL(m.EnvelopeIMAP))
		case fetchBody:
			sep()
			e.Atom("BODY ").Raw(orNIL(m.BodyIMAP))
		case fetchBodyStructure:
			sep()
			e.Atom("BODYSTRUCTURE ").Raw(orNIL(m.BodyStructureIMAP))
		case fetchModSeq:
			sep()
			e.Atom("MODSEQ (").Number64(m.ModSeq).Byte(')')
		case fetchSaveDate:
			sep()
			if m.SaveDate.IsZero() {
				e.Atom("SAVEDATE NIL")
			} else {
				e.Atom(`SAVEDATE "`).Atom(imapwire.FormatDateTime(m.SaveDate)).Byte('"')
			}
		case fetchPreview:
			sep()
			e.Atom("PREVIEW ").String(m.Preview)
		case fetchEmailID:
			sep()
			e.Atom("EMAILID (").Atom(m.EmailID).Byte(')')
		case fetchThreadID:
			sep()
			if m.ThreadID == "" {
				e.Atom("THREADID NIL")
			} else {
				e.Atom("THREADID (").Atom(m.ThreadID).Byte(')')
			}
		case fetchSection:
			b, err := open()
			if err != nil {
				return err
			}
			sep()
			if err := s.writeSection(m, b, a); err != nil {
				return err
			}
		case fetchBinary, fetchBinarySize:
			b, err := open()
			if err != nil {
				return err
			}
			sep()
			if err := s.writeBinary(m, b, a); err != nil {
				return err
			}
		}
	}
	if withFlags && !flagsDone {
		sep()
		e.Atom("FLAGS ").Flags(v.flagsWithRecent(i))
	}
	e.Byte(')')
	return e.CRLF()
}

func orNIL(b []byte) []byte {
	if len(b) == 0 {
		return []byte("NIL")
	}
	return b
}

// sectionRange finds the octets a section names: [start, end) of the
// stored message, or, for HEADER.FIELDS, filtered header bytes. ok is
// false for a part that does not exist.
func sectionRange(m *store.Message, b store.Body, sec section) (start, end int64, filtered []byte, ok bool, err error) {
	root := m.Structure
	if root == nil {
		root = &message.Part{BodyStart: 0, End: b.Size()}
	}
	p := root
	if len(sec.path) > 0 {
		if p = root.Section(sec.path); p == nil {
			return 0, 0, nil, false, nil
		}
	}
	switch sec.spec {
	case "":
		if len(sec.path) == 0 {
			return 0, b.Size(), nil, true, nil
		}
		return p.BodyStart, p.End, nil, true, nil
	case "MIME":
		return p.HeaderStart, p.BodyStart, nil, true, nil
	}
	// HEADER, HEADER.FIELDS[.NOT], TEXT address a message: the root, or
	// the message encapsulated in a message/rfc822 part.
	msg := p
	if len(sec.path) > 0 {
		if !p.IsMessage() || len(p.Children) != 1 {
			return 0, 0, nil, false, nil
		}
		msg = p.Children[0]
	}
	switch sec.spec {
	case "TEXT":
		return msg.BodyStart, msg.End, nil, true, nil
	case "HEADER":
		return msg.HeaderStart, msg.BodyStart, nil, true, nil
	}
	n := msg.BodyStart - msg.HeaderStart
	if n < 0 || msg.HeaderStart < 0 {
		n = 0
	}
	hdr := make([]byte, min(n, maxHeaderRead))
	if _, err := b.ReadAt(hdr, msg.HeaderStart); err != nil && err != io.EOF {
		return 0, 0, nil, false, err
	}
	return 0, 0, message.FilterHeader(hdr, sec.fields, sec.spec == "HEADER.FIELDS.NOT"), true, nil
}

// maxHeaderRead caps the header octets read into memory for
// HEADER.FIELDS; longer headers are cut (a header that size is abuse).
const maxHeaderRead = 8 << 20

// writeSection writes "NAME[section]<origin> literal".
func (s *session) writeSection(m *store.Message, b store.Body, a fetchAtt) error {
	start, end, filtered, ok, err := sectionRange(m, b, a.sec)
	if err != nil {
		return err
	}
	e := &s.enc
	e.Atom(a.name)
	if a.partial {
		e.Byte('<').Number64(uint64(a.offset)).Byte('>')
	}
	e.SP()
	if !ok {
		e.Atom(`""`)
		return nil
	}
	if end > b.Size() {
		end = b.Size()
	}
	if start > end {
		start = end
	}
	var r io.Reader
	size := end - start
	if filtered != nil {
		r, size = bytes.NewReader(filtered), int64(len(filtered))
	} else {
		r = io.NewSectionReader(b, start, size)
	}
	if a.partial {
		skip := min(a.offset, size)
		if _, err := io.CopyN(io.Discard, r, skip); err != nil {
			return err
		}
		size = min(size-skip, a.count)
	}
	e.LiteralFrom(r, size, false)
	return e.Err()
}

// writeBinary writes BINARY[part] or BINARY.SIZE[part] (RFC 3516), the
// part's content with its transfer encoding undone. The decoded size is
// counted in a first pass so nothing is held in memory.
func (s *session) writeBinary(m *store.Message, b store.Body, a fetchAtt) error {
	start, end, enc, err := binaryPart(m, a)
	if err != nil {
		return err
	}
	end = min(end, b.Size())
	start = min(start, end)
	decoded := func() io.Reader {
		return message.NewTransferDecoder(enc, io.NewSectionReader(b, start, end-start))
	}
	size, err := io.Copy(io.Discard, decoded())
	if err != nil {
		return err
	}
	e := &s.enc
	if a.kind == fetchBinarySize {
		e.Atom(a.name).SP().Number64(uint64(size))
		return nil
	}
	r := decoded()
	e.Atom(a.name)
	if a.partial {
		e.Byte('<').Number64(uint64(a.offset)).Byte('>')
		skip := min(a.offset, size)
		if _, err := io.CopyN(io.Discard, r, skip); err != nil {
			return err
		}
		size = min(size-skip, a.count)
	}
	e.SP().LiteralFrom(r, size, true)
	return e.Err()
}
