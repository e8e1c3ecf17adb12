package imapserver

import (
	"errors"
	"slices"
	"strings"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

// view is a session's picture of its selected mailbox: the message
// sequence numbers the client knows (index+1 in uids), their flags and
// mod-sequences, and what changed that the client has not been told yet.
// Only the session's goroutine uses it.
type view struct {
	// The fields a delivery's wake-up uses come first (see session).
	uids    []store.UID // ascending; seq = index+1
	flags   [][]string
	modseqs []uint64

	// syncModSeq is the mod-sequence up to which store changes are
	// reflected in the view (sent or pending).
	syncModSeq uint64
	// expunged are UIDs gone from the store but still in the view because
	// EXPUNGE responses were not allowed yet (RFC 9051 §7.5.1); nil until
	// the first (markExpunged), so that asking for its length costs no
	// memory access beyond the view when it is empty.
	expunged map[store.UID]bool
	// recent are the messages that are \Recent for this session; nil
	// until the first (markRecent).
	recent   map[store.UID]bool
	readOnly bool
	// noRecent hides \Recent (IMAP4rev2 has none, RFC 9051 §2.3.2).
	noRecent bool
	mbox     store.Mailbox

	// expungeFloor is a mod-sequence below that of every pending expunge
	// (the view's syncModSeq when the first became pending); 0 when none
	// is pending.
	expungeFloor uint64
	// searchRes is the saved search result (RFC 5182), as UIDs.
	searchRes []store.UID
	// flagNames are the flags last announced in an untagged FLAGS
	// response: the system flags and every keyword seen in the mailbox.
	flagNames []string
}

// announceKeywords sends FLAGS and PERMANENTFLAGS again when a keyword
// the client has not been told of appears in lists (RFC 9051 §7.3.5:
// FLAGS is sent whenever the set of defined flags changes). Callers run
// it before the FETCH responses that carry the new keyword.
func (s *session) announceKeywords(v *view, lists ...[]string) {
	grew := false
	for _, fl := range lists {
		for _, f := range fl {
			if !strings.HasPrefix(f, `\`) && !hasFlag(v.flagNames, f) {
				v.flagNames = append(v.flagNames, f)
				grew = true
			}
		}
	}
	if !grew {
		return
	}
	s.enc.Atom("* FLAGS ").Flags(v.flagNames).CRLF()
	if !v.readOnly {
		s.enc.Atom("* OK [PERMANENTFLAGS ").Flags(append(slices.Clip(v.flagNames), `\*`)).Atom("] Flags permitted").CRLF()
	}
}

// markExpunged records that uid is gone but not yet told.
func (v *view) markExpunged(uid store.UID) {
	if v.expunged == nil {
		v.expunged = make(map[store.UID]bool)
	}
	v.expunged[uid] = true
}

// markRecent makes uid \Recent for this session.
func (v *view) markRecent(uid store.UID) {
	if v.recent == nil {
		v.recent = make(map[store.UID]bool)
	}
	v.recent[uid] = true
}

// index returns the position of uid in the view, or -1.
func (v *view) index(uid store.UID) int {
	i, ok := slices.BinarySearch(v.uids, uid)
	if !ok {
		return -1
	}
	return i
}

// lastUID is the greatest UID in the view, or 0.
// appliedOwn is called once the view holds every message change this
// session's own store call made at modseq (all UIDs it changed are in the
// view). Every change to a mailbox takes the next mod-sequence, so when
// modseq follows the view's sync point nothing else changed in between:
// the sync point moves, and the next sync does not ask the store about
// these changes (10,000 of them after STORE 1:* on a big mailbox).
func (v *view) appliedOwn(modseq uint64) {
	if modseq == v.syncModSeq+1 {
		v.syncModSeq = modseq
	}
}

func (v *view) lastUID() store.UID {
	if len(v.uids) == 0 {
		return 0
	}
	return v.uids[len(v.uids)-1]
}

// errBadSeq answers a sequence number beyond the mailbox (RFC 9051 §9
// seq-number).
var errBadSeq = errBad("Invalid message sequence number")

// resolve turns a sequence set (sequence numbers, or UIDs when uid is set)
// into the UIDs of the view it names, ascending.
func (v *view) resolve(set imapwire.SeqSet, uid bool) ([]store.UID, error) {
	return v.resolveSet(set, uid, false)
}

// resolveLenient is resolve for SEARCH keys: sequence numbers beyond the
// mailbox match nothing instead of failing. RFC 9051 §6.4.4 defines a
// sequence set key as "messages with sequence numbers in the set", and
// common servers (Dovecot) answer OK with the existing matches.
func (v *view) resolveLenient(set imapwire.SeqSet, uid bool) []store.UID {
	out, _ := v.resolveSet(set, uid, true)
	return out
}

func (v *view) resolveSet(set imapwire.SeqSet, uid, lenient bool) ([]store.UID, error) {
	return v.resolveSetIf(set, uid, lenient, nil)
}

// resolveChanged is resolve keeping only the messages whose MODSEQ is
// above m (FETCH CHANGEDSINCE), without listing the others first.
func (v *view) resolveChanged(set imapwire.SeqSet, uid bool, m uint64) ([]store.UID, error) {
	return v.resolveSetIf(set, uid, false, func(i int) bool { return v.modseqs[i] > m })
}

// resolveSetIf is resolveSet keeping only the messages at the indexes
// keep accepts (all when keep is nil).
func (v *view) resolveSetIf(set imapwire.SeqSet, uid, lenient bool, keep func(i int) bool) ([]store.UID, error) {
	if set.SearchRes {
		out := make([]store.UID, 0, len(v.searchRes))
		for _, u := range v.searchRes {
			if i := v.index(u); i >= 0 && (keep == nil || keep(i)) {
				out = append(out, u)
			}
		}
		return out, nil
	}
	var out []store.UID
	if uid {
		ranges := set.Resolve(uint32(v.lastUID()))
		if len(ranges) == 0 {
			return nil, nil
		}
		// Walk the view from the first range's start.
		i, _ := slices.BinarySearch(v.uids, store.UID(ranges[0].Start))
		for ; i < len(v.uids); i++ {
			if (keep == nil || keep(i)) && imapwire.RangesContain(ranges, uint32(v.uids[i])) {
				out = append(out, v.uids[i])
			}
		}
		return out, nil
	}
	n := uint32(len(v.uids))
	ranges := set.Resolve(n)
	for _, r := range ranges {
		if r.Stop > n {
			if !lenient {
				return nil, errBadSeq
			}
			if r.Start > n {
				break
			}
			r.Stop = n
		}
		for seq := r.Start; seq <= r.Stop; seq++ {
			if keep == nil || keep(int(seq-1)) {
				out = append(out, v.uids[seq-1])
			}
		}
	}
	return out, nil
}

// flagsWithRecent returns a message's flags as FETCH shows them.
func (v *view) flagsWithRecent(i int) []string {
	if v.noRecent || !v.recent[v.uids[i]] {
		return v.flags[i]
	}
	return append(slices.Clip(v.flags[i]), `\Recent`)
}

// remove drops the messages at the given ascending indexes.
func (v *view) remove(idx []int) {
	if len(idx) == 0 {
		return
	}
	k, j := 0, 0
	for i := range v.uids {
		if j < len(idx) && idx[j] == i {
			j++
			delete(v.expunged, v.uids[i])
			delete(v.recent, v.uids[i])
			continue
		}
		v.uids[k], v.flags[k], v.modseqs[k] = v.uids[i], v.flags[i], v.modseqs[i]
		k++
	}
	v.uids, v.flags, v.modseqs = v.uids[:k], v.flags[:k], v.modseqs[:k]
}

func sameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !hasFlag(b, f) {
			return false
		}
	}
	return true
}

func hasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

// sync brings the selected mailbox's view up to date with the store and
// writes the untagged responses the client may get now: EXPUNGE only when
// allowExpunge (RFC 9051 §7.5.1), then EXISTS/RECENT, then FETCH FLAGS.
func (s *session) sync(allowExpunge bool) error {
	p, err := s.syncRead(allowExpunge)
	if err != nil {
		return err
	}
	return s.syncWrite(&p)
}

// syncUpdate is what syncRead found and syncWrite tells the client.
type syncUpdate struct {
	allowExpunge bool
	// added are new messages, already in the view (at its end).
	added []store.MessageRef
	// changedFlags are messages of the view whose flags changed.
	changedFlags []store.UID
}

// empty tells that syncWrite would write nothing.
func (p *syncUpdate) empty(v *view) bool {
	return len(p.added) == 0 && len(p.changedFlags) == 0 &&
		(v == nil || !p.allowExpunge || len(v.expunged) == 0)
}

// syncRead is the first half of sync: it drains the hub, asks the store
// what changed and updates the view, writing nothing unless NOTIFY is on
// (notifyOthers reports other mailboxes as it reads them; the caller
// then holds the output buffer).
func (s *session) syncRead(allowExpunge bool) (syncUpdate, error) {
	p := syncUpdate{allowExpunge: allowExpunge}
	if s.sub == nil {
		return p, nil
	}
	events, overflowed := s.sub.Drain()
	if s.notify != nil {
		if err := s.notifyOthers(events, overflowed); err != nil {
			return p, err
		}
	}
	v := s.sel
	if v == nil {
		return p, nil
	}
	// need is the mod-sequence the store's answer must reach to cover
	// every change drained; 0 when not known (overflow, mailbox deleted).
	relevant, need := overflowed, uint64(0)
	known := !overflowed
	for _, ev := range events {
		if ev.Mailbox != v.mbox.ID {
			continue
		}
		switch ev.Kind {
		case store.EventAppend, store.EventFlags, store.EventExpunge:
			relevant = true
			if ev.ModSeq == 0 {
				known = false
			}
			need = max(need, ev.ModSeq)
		case store.EventMailboxDelete:
			relevant, known = true, false
		}
	}
	if !known {
		need = 0
	} else if relevant && need <= v.syncModSeq {
		// Changes the view already holds (this session's own STORE).
		relevant = false
	}
	if !relevant {
		return p, nil
	}
	floor := v.syncModSeq
	ch, err := s.changesSince(v, need)
	if errors.Is(err, store.ErrNoMailbox) {
		// Deleted under us: every message is gone.
		for _, u := range v.uids {
			v.markExpunged(u)
		}
		ch, err = store.Changes{HighestModSeq: v.syncModSeq}, nil
	}
	if err != nil {
		return p, err
	}
	if ch.TombstonesPruned {
		if ch, err = s.fullChanges(v); err != nil {
			return p, err
		}
	}
	last := v.lastUID()
	for _, r := range ch.Changed {
		if i := v.index(r.UID); i >= 0 {
			if !sameFlags(v.flags[i], r.Flags) {
				v.flags[i] = r.Flags
				p.changedFlags = append(p.changedFlags, r.UID)
			}
			v.modseqs[i] = r.ModSeq
			continue
		}
		if r.UID > last && (len(p.added) == 0 || r.UID > p.added[len(p.added)-1].UID) {
			p.added = append(p.added, r)
		}
	}
	for _, u := range ch.Vanished {
		if v.index(u) >= 0 {
			v.markExpunged(u)
		}
	}
	if len(v.expunged) > 0 && v.expungeFloor == 0 {
		v.expungeFloor = max(floor, 1)
	}
	if ch.HighestModSeq > v.syncModSeq {
		v.syncModSeq = ch.HighestModSeq
	}
	for _, r := range p.added {
		v.uids = append(v.uids, r.UID)
		v.flags = append(v.flags, r.Flags)
		v.modseqs = append(v.modseqs, r.ModSeq)
	}
	if len(p.added) > 0 && !v.readOnly {
		if first, ok := s.claimRecent(v, p.added[len(p.added)-1].UID); ok {
			// Everything the store gave this session, which may reach below
			// what this sync added: another session that announced it
			// would claim those (so this one left them) can have had its
			// claim overtaken by this one's in the store, and got nothing.
			for i := len(v.uids) - 1; i >= 0 && v.uids[i] >= first; i-- {
				v.markRecent(v.uids[i])
			}
		}
	}
	return p, nil
}

// syncWrite is the second half of sync: it writes what syncRead found.
func (s *session) syncWrite(p *syncUpdate) error {
	v := s.sel
	if v == nil {
		return nil
	}
	if p.allowExpunge && len(v.expunged) > 0 {
		s.writeExpunges(v, nil)
	}
	var kept [4][]string // no allocation for a delivery's usual few
	newFlags := kept[:0]
	for _, r := range p.added {
		newFlags = append(newFlags, r.Flags)
	}
	for _, u := range p.changedFlags {
		if i := v.index(u); i >= 0 {
			newFlags = append(newFlags, v.flags[i])
		}
	}
	s.announceKeywords(v, newFlags...)
	if len(p.added) > 0 {
		s.enc.Atom("* ").Number(uint32(len(v.uids))).Atom(" EXISTS").CRLF()
		if !s.enabled.rev2 {
			s.enc.Atom("* ").Number(uint32(len(v.recent))).Atom(" RECENT").CRLF()
		}
		if err := s.notifyNewMessages(v, p.added); err != nil {
			return err
		}
	}
	for _, u := range p.changedFlags {
		if i := v.index(u); i >= 0 && !v.expunged[u] {
			s.writeFlagsFetch(v, i, true)
		}
	}
	if len(p.changedFlags) > 0 {
		s.writeModSeqFloor(v)
	}
	return nil
}

// claimRecent claims \Recent (RFC 3501 §2.3.2) for the messages up to
// upTo, unless another session of this server is claiming them right now:
// that one gets them (only one session may), so this one need not queue
// a store write behind it. When one delivery wakes thousands of idling
// sessions of a mailbox, one of them claims and the rest go on at once.
// ok is false when nothing was claimed.
func (s *session) claimRecent(v *view, upTo store.UID) (first store.UID, ok bool) {
	key := recentKey{s.account.ID, v.mbox.ID}
	srv := s.srv
	srv.claimMu.Lock()
	c := srv.claims[key]
	if c != nil && c.upTo >= upTo {
		// Claimed, or being claimed, by another session already.
		srv.claimMu.Unlock()
		return 0, false
	}
	if c == nil {
		if len(srv.claims) >= maxRecentClaims {
			// Forgetting finished claims costs only a store read each.
			for k, old := range srv.claims {
				if old.running == 0 {
					delete(srv.claims, k)
				}
			}
		}
		c = &recentClaim{}
		srv.claims[key] = c
	}
	before := c.upTo
	c.upTo = upTo
	c.running++
	srv.claimMu.Unlock()
	first, err := srv.opts.Store.ClaimRecent(s.ctx, s.account.ID, v.mbox.ID, upTo)
	srv.claimMu.Lock()
	c.running--
	if err != nil && c.upTo == upTo {
		c.upTo = before // not claimed after all: the next session tries
	}
	srv.claimMu.Unlock()
	return first, err == nil
}

// maxRecentClaims bounds the mailboxes whose claimed \Recent range the
// server remembers.
const maxRecentClaims = 4096

// writeModSeqFloor follows FETCH responses carrying MODSEQ while expunges
// wait to be told: RFC 7162 §3.2 (errata 1810 of RFC 5162) requires a
// HIGHESTMODSEQ lower than the delayed expunges' mod-sequences, so a
// client that loses the connection now does not skip them.
func (s *session) writeModSeqFloor(v *view) {
	if !s.enabled.condstore || len(v.expunged) == 0 || v.expungeFloor == 0 {
		return
	}
	s.enc.Atom("* OK [HIGHESTMODSEQ ").Number64(v.expungeFloor).Atom("] Expunges pending").CRLF()
}

// fullChanges compares the whole mailbox with the view when tombstones
// were pruned (the store cannot list what vanished).
func (s *session) fullChanges(v *view) (store.Changes, error) {
	mb, err := s.srv.opts.Store.MailboxByID(s.ctx, s.account.ID, v.mbox.ID)
	if err != nil {
		return store.Changes{}, err
	}
	refs, err := s.srv.opts.Store.MessageRefs(s.ctx, s.account.ID, v.mbox.ID)
	if err != nil {
		return store.Changes{}, err
	}
	ch := store.Changes{Changed: refs, HighestModSeq: mb.HighestModSeq}
	present := make(map[store.UID]bool, len(refs))
	for _, r := range refs {
		present[r.UID] = true
	}
	for _, u := range v.uids {
		if !present[u] {
			ch.Vanished = append(ch.Vanished, u)
		}
	}
	return ch, nil
}

// writeExpunges sends EXPUNGE for the view's pending expunges plus extra
// (UIDs this session removed), highest sequence number first so that no
// number shifts under the client, and drops them from the view.
func (s *session) writeExpunges(v *view, extra []store.UID) {
	for _, u := range extra {
		if v.index(u) >= 0 {
			v.markExpunged(u)
		}
	}
	if len(v.expunged) == 0 {
		return
	}
	idx := make([]int, 0, len(v.expunged))
	for u := range v.expunged {
		if i := v.index(u); i >= 0 {
			idx = append(idx, i)
		} else {
			delete(v.expunged, u)
		}
	}
	slices.Sort(idx)
	if s.enabled.qresync || s.enabled.uidOnly {
		// RFC 7162 §3.2.10, RFC 9586 §3.2: VANISHED replaces EXPUNGE.
		gone := make([]uint32, len(idx))
		for k, i := range idx {
			gone[k] = uint32(v.uids[i])
		}
		s.writeVanishedRanges("* VANISHED ", numsToRanges(gone))
	} else {
		for k := len(idx) - 1; k >= 0; k-- {
			s.enc.Atom("* ").Number(uint32(idx[k] + 1)).Atom(" EXPUNGE").CRLF()
		}
	}
	v.remove(idx)
	if len(v.expunged) == 0 {
		v.expungeFloor = 0
	}
}

// writeFlagsFetch sends "* n FETCH (FLAGS (...) UID u [MODSEQ (m)])", or
// "* u UIDFETCH (FLAGS (...) [MODSEQ (m)])" under UIDONLY. Once QRESYNC
// is on, every FETCH response carries the UID (RFC 7162 §3.2).
func (s *session) writeFlagsFetch(v *view, i int, withUID bool) {
	withUID = withUID || s.enabled.qresync
	if s.fetchHead(v, i) {
		withUID = false
	}
	s.enc.Atom("FLAGS ").Flags(v.flagsWithRecent(i))
	if withUID {
		s.enc.Atom(" UID ").Number(uint32(v.uids[i]))
	}
	if s.enabled.condstore {
		s.enc.Atom(" MODSEQ (").Number64(v.modseqs[i]).Byte(')')
	}
	s.enc.Byte(')').CRLF()
}
