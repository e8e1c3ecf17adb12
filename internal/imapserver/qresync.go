package imapserver

import (
	"github.com/postern/postern/internal/imapwire"
)

// qresyncParams is the QRESYNC select parameter (RFC 7162 §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modSeq      uint64
	knownUIDs   *imapwire.SeqSet
	// seqMatch is the message sequence match data (known-sequence-set,
	// known-uid-set) of RFC 7162 §3.2.5.2, or nil.
	seqMatch *[2]imapwire.SeqSet
}

// readQresync reads "(" uidvalidity SP mod-sequence-value [SP known-uids]
// [SP seq-match-data] ")" after "QRESYNC SP". Sequence match data narrows
// the answer when tombstones were pruned (seqMatchFloor).
func (s *session) readQresync(p *qresyncParams) bool {
	d := s.dec
	if !d.ExpectSpecial('(') || !d.ExpectNumber(&p.uidValidity) || !d.ExpectSP() || !d.ExpectNumber64(&p.modSeq) {
		return false
	}
	if d.SP() {
		if b, ok := d.PeekByte(); ok && b != '(' {
			var known imapwire.SeqSet
			if !d.ExpectSeqSet(&known) {
				return false
			}
			p.knownUIDs = &known
			if !d.SP() {
				return d.ExpectSpecial(')')
			}
		}
		var seqs, uids imapwire.SeqSet
		if !d.ExpectSpecial('(') || !d.ExpectSeqSet(&seqs) || !d.ExpectSP() || !d.ExpectSeqSet(&uids) || !d.ExpectSpecial(')') {
			return false
		}
		p.seqMatch = &[2]imapwire.SeqSet{seqs, uids}
	}
	return d.ExpectSpecial(')')
}

// maxSeqMatch bounds how many sequence/UID pairs of seq-match data are
// looked at; longer lists are ignored (the answer is still correct).
const maxSeqMatch = 1 << 16

// seqMatchFloor applies RFC 7162 §3.2.5.2: for the highest pair of the
// client's message sequence match data whose sequence number still names
// the same UID in the mailbox, no message with a lower or equal UID can
// have been expunged (UIDs only grow, so sequence numbers below it did
// not shift). It returns that UID, or 0 when no pair matches (the list
// was out of date, or none was given): then nothing can be ruled out.
func seqMatchFloor(v *view, m *[2]imapwire.SeqSet) uint32 {
	if m == nil || m[0].SearchRes || m[1].SearchRes {
		return 0
	}
	seqs := expandSet(m[0], uint32(len(v.uids)))
	uids := expandSet(m[1], uint32(v.lastUID()))
	if seqs == nil || len(seqs) != len(uids) {
		// RFC 7162 §3.2.5.2 lets the server ignore mismatched lists.
		return 0
	}
	for k := len(seqs) - 1; k >= 0; k-- {
		seq := seqs[k]
		if seq >= 1 && int(seq) <= len(v.uids) && uint32(v.uids[seq-1]) == uids[k] {
			return uids[k]
		}
	}
	return 0
}

// expandSet lists a set's numbers ascending, "*" being max; nil when it
// names more than maxSeqMatch numbers.
func expandSet(set imapwire.SeqSet, max uint32) []uint32 {
	var out []uint32
	for _, r := range set.Resolve(max) {
		if uint64(len(out))+uint64(r.Stop-r.Start)+1 > maxSeqMatch {
			return nil
		}
		for n := r.Start; ; n++ {
			out = append(out, n)
			if n == r.Stop {
				break
			}
		}
	}
	return out
}

// vanishedSince returns the UIDs within limit (nil: any) expunged after
// modseq, as ranges. When tombstones were pruned, it answers with every
// UID in limit (or below UIDNEXT) above floor that is not in the mailbox
// now, which RFC 7162 §3.2.5.2 allows; floor comes from seqMatchFloor.
func (s *session) vanishedSince(v *view, modseq uint64, limit []imapwire.SeqRange, floor uint32) ([]uint32, []imapwire.SeqRange, error) {
	ch, err := s.srv.opts.Store.ChangesSince(s.ctx, s.account.ID, v.mbox.ID, modseq)
	if err != nil {
		return nil, nil, err
	}
	if !ch.TombstonesPruned {
		var out []uint32
		for _, u := range ch.Vanished {
			if (limit == nil || imapwire.RangesContain(limit, uint32(u))) && v.index(u) < 0 {
				out = append(out, uint32(u))
			}
		}
		return out, nil, nil
	}
	// Complement of the view's UIDs within [1, last known UID].
	top := uint32(v.lastUID())
	if uint32(v.mbox.UIDNext) > 0 && uint32(v.mbox.UIDNext)-1 > top {
		top = uint32(v.mbox.UIDNext) - 1
	}
	var gaps []imapwire.SeqRange
	next := floor + 1
	for _, u := range v.uids {
		if uint32(u) < next {
			continue
		}
		if uint32(u) > next {
			gaps = append(gaps, imapwire.SeqRange{Start: next, Stop: uint32(u) - 1})
		}
		next = uint32(u) + 1
	}
	if next <= top {
		gaps = append(gaps, imapwire.SeqRange{Start: next, Stop: top})
	}
	if limit == nil {
		return nil, gaps, nil
	}
	var out []imapwire.SeqRange
	for _, g := range gaps {
		for _, l := range limit {
			lo, hi := max(g.Start, l.Start), min(g.Stop, l.Stop)
			if lo <= hi {
				out = append(out, imapwire.SeqRange{Start: lo, Stop: hi})
			}
		}
	}
	return nil, out, nil
}

// writeVanished writes "* VANISHED (EARLIER) set" when anything vanished.
func (s *session) writeVanished(nums []uint32, ranges []imapwire.SeqRange) {
	if len(ranges) == 0 {
		ranges = numsToRanges(nums)
	}
	s.writeVanishedRanges("* VANISHED (EARLIER) ", ranges)
}

// vanishedPerLine bounds the ranges of one VANISHED response, keeping
// lines near the 8192 octets RFC 7162 §4 names as the line length
// implementations should allow for.
const vanishedPerLine = 500

// writeVanishedRanges writes ranges after prefix, in as many responses
// as it takes.
func (s *session) writeVanishedRanges(prefix string, ranges []imapwire.SeqRange) {
	for len(ranges) > 0 {
		n := min(len(ranges), vanishedPerLine)
		s.enc.Atom(prefix).Atom(imapwire.SeqSet{Ranges: ranges[:n]}.String()).CRLF()
		ranges = ranges[n:]
	}
}

// writeVanishedEarlier answers UID FETCH ... (CHANGEDSINCE n VANISHED).
func (s *session) writeVanishedEarlier(v *view, modseq uint64, set imapwire.SeqSet) error {
	var limit []imapwire.SeqRange
	if set.SearchRes {
		limit = numsToRanges(toNums(v.searchRes))
	} else {
		limit = set.Resolve(uint32(max(v.lastUID(), v.mbox.UIDNext)))
	}
	nums, ranges, err := s.vanishedSince(v, modseq, limit, 0)
	if err != nil {
		return err
	}
	s.writeVanished(nums, ranges)
	return nil
}

// qresyncSelect sends what changed since the client's last session
// (RFC 7162 §3.2.5.1): VANISHED (EARLIER), then FETCH for changed
// messages.
func (s *session) qresyncSelect(v *view, p *qresyncParams) error {
	if p.uidValidity != v.mbox.UIDValidity {
		return nil
	}
	var limit []imapwire.SeqRange
	if p.knownUIDs != nil {
		limit = p.knownUIDs.Resolve(uint32(v.lastUID()))
	}
	nums, ranges, err := s.vanishedSince(v, p.modSeq, limit, seqMatchFloor(v, p.seqMatch))
	if err != nil {
		return err
	}
	s.writeVanished(nums, ranges)
	for i := range v.uids {
		if v.modseqs[i] > p.modSeq && (limit == nil || imapwire.RangesContain(limit, uint32(v.uids[i]))) {
			s.writeFlagsFetch(v, i, true)
		}
	}
	return nil
}
