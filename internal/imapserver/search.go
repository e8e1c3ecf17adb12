package imapserver

import (
	"io"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

// searchNeeds says what evaluating a program needs beyond the view.
type searchNeeds struct {
	row, headers, rawHeader bool
	text                    []*searchKey // BODY and TEXT keys
}

func (n *searchNeeds) walk(k *searchKey) {
	switch k.op {
	case "BEFORE", "ON", "SINCE", "LARGER", "SMALLER", "OLDER", "YOUNGER",
		"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE", "EMAILID", "THREADID":
		n.row = true
	case "SENTBEFORE", "SENTON", "SENTSINCE", "FROM", "TO", "CC", "BCC", "SUBJECT":
		n.row, n.headers = true, true
	case "HEADER":
		n.row, n.headers = true, true
		if _, ok := indexedHeader(nil, k.field); !ok {
			n.rawHeader = true
		}
	case "BODY", "TEXT":
		n.text = append(n.text, k)
	}
	for _, kid := range k.kids {
		n.walk(kid)
	}
}

// indexedHeader returns a header field's decoded value from the index;
// ok is false for fields the index does not hold.
func indexedHeader(m *store.Message, field string) (string, bool) {
	if m == nil {
		switch field {
		case "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "message-id", "in-reply-to", "references":
			return "", true
		}
		return "", false
	}
	h := &m.Headers
	switch field {
	case "from":
		return h.From, true
	case "sender":
		return h.Sender, true
	case "reply-to":
		return h.ReplyTo, true
	case "to":
		return h.To, true
	case "cc":
		return h.Cc, true
	case "bcc":
		return h.Bcc, true
	case "subject":
		return h.Subject, true
	case "message-id":
		return h.MessageID, true
	case "in-reply-to":
		return h.InReplyTo, true
	case "references":
		return strings.Join(h.References, " "), true
	}
	return "", false
}

// searchCtx is what evaluation of one message sees.
type searchCtx struct {
	v        *view
	i        int
	m        *store.Message
	raw      map[string][]string // raw header fields, lower-case names, decoded
	text     map[*searchKey]map[store.UID]bool
	now      time.Time
	maxSeqN  uint32
	resolved map[*searchKey][]imapwire.SeqRange
}

func sameDay(a, b time.Time) int {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	switch {
	case ay != by:
		return cmpInt(ay, by)
	case am != bm:
		return cmpInt(int(am), int(bm))
	}
	return cmpInt(ad, bd)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// match evaluates k for the message at c.i.
func (c *searchCtx) match(k *searchKey) bool {
	v, i := c.v, c.i
	flags := v.flags[i]
	uid := v.uids[i]
	switch k.op {
	case "AND":
		for _, kid := range k.kids {
			if !c.match(kid) {
				return false
			}
		}
		return true
	case "NOT":
		return !c.match(k.kids[0])
	case "OR":
		return c.match(k.kids[0]) || c.match(k.kids[1])
	case "ALL", "SAVEDATESUPPORTED":
		return true
	case "ANSWERED":
		return hasFlag(flags, store.FlagAnswered)
	case "UNANSWERED":
		return !hasFlag(flags, store.FlagAnswered)
	case "DELETED":
		return hasFlag(flags, store.FlagDeleted)
	case "UNDELETED":
		return !hasFlag(flags, store.FlagDeleted)
	case "FLAGGED":
		return hasFlag(flags, store.FlagFlagged)
	case "UNFLAGGED":
		return !hasFlag(flags, store.FlagFlagged)
	case "SEEN":
		return hasFlag(flags, store.FlagSeen)
	case "UNSEEN":
		return !hasFlag(flags, store.FlagSeen)
	case "DRAFT":
		return hasFlag(flags, store.FlagDraft)
	case "UNDRAFT":
		return !hasFlag(flags, store.FlagDraft)
	case "RECENT":
		return v.recent[uid]
	case "OLD":
		return !v.recent[uid]
	case "NEW":
		return v.recent[uid] && !hasFlag(flags, store.FlagSeen)
	case "KEYWORD":
		return hasFlag(flags, k.str)
	case "UNKEYWORD":
		return !hasFlag(flags, k.str)
	case "SEQ":
		return imapwire.RangesContain(c.resolved[k], uint32(i+1))
	case "UID":
		return imapwire.RangesContain(c.resolved[k], uint32(uid))
	case "MODSEQ":
		return v.modseqs[i] >= k.num
	case "BODY", "TEXT":
		return c.text[k][uid]
	}
	m := c.m
	if m == nil {
		return false
	}
	switch k.op {
	case "BEFORE":
		return sameDay(m.InternalDate, k.date) < 0
	case "ON":
		return sameDay(m.InternalDate, k.date) == 0
	case "SINCE":
		return sameDay(m.InternalDate, k.date) >= 0
	case "SAVEDBEFORE":
		return !m.SaveDate.IsZero() && sameDay(m.SaveDate, k.date) < 0
	case "SAVEDON":
		return !m.SaveDate.IsZero() && sameDay(m.SaveDate, k.date) == 0
	case "SAVEDSINCE":
		return !m.SaveDate.IsZero() && sameDay(m.SaveDate, k.date) >= 0
	case "SENTBEFORE":
		return !m.Headers.Date.IsZero() && sameDay(m.Headers.Date, k.date) < 0
	case "SENTON":
		return !m.Headers.Date.IsZero() && sameDay(m.Headers.Date, k.date) == 0
	case "SENTSINCE":
		return !m.Headers.Date.IsZero() && sameDay(m.Headers.Date, k.date) >= 0
	case "LARGER":
		return uint64(m.Size) > k.num
	case "SMALLER":
		return uint64(m.Size) < k.num
	case "OLDER":
		return !m.InternalDate.After(c.now.Add(-time.Duration(k.num) * time.Second))
	case "YOUNGER":
		return !m.InternalDate.Before(c.now.Add(-time.Duration(k.num) * time.Second))
	case "EMAILID":
		return m.EmailID == k.str
	case "THREADID":
		return m.ThreadID != "" && m.ThreadID == k.str
	case "FROM", "TO", "CC", "BCC", "SUBJECT":
		val, _ := indexedHeader(m, strings.ToLower(k.op))
		return strings.Contains(strings.ToLower(val), k.str)
	case "HEADER":
		if val, ok := indexedHeader(m, k.field); ok {
			if k.str == "" {
				return val != ""
			}
			return strings.Contains(strings.ToLower(val), k.str)
		}
		vals, present := c.raw[k.field]
		if !present {
			return false
		}
		for _, val := range vals {
			if strings.Contains(strings.ToLower(val), k.str) {
				return true
			}
		}
		return false
	}
	return false
}

// parseRawHeader splits a header block into decoded field values.
func parseRawHeader(hdr []byte) map[string][]string {
	out := map[string][]string{}
	var dec mime.WordDecoder
	lines := strings.Split(strings.ReplaceAll(string(hdr), "\r\n", "\n"), "\n")
	var name, val string
	flush := func() {
		if name != "" {
			if d, err := dec.DecodeHeader(strings.TrimSpace(val)); err == nil {
				val = d
			}
			out[name] = append(out[name], strings.TrimSpace(val))
		}
		name, val = "", ""
	}
	for _, l := range lines {
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			val += l
			continue
		}
		flush()
		if j := strings.IndexByte(l, ':'); j > 0 {
			name, val = strings.ToLower(strings.TrimSpace(l[:j])), l[j+1:]
		}
	}
	flush()
	return out
}

// cmdSearch: SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH (RFC
// 4731), SEARCHRES (RFC 5182), CONDSTORE MODSEQ (RFC 7162 §3.1.5), WITHIN
// (RFC 5032) and SAVEDATE (RFC 8514).
func cmdSearch(s *session, c *command) error {
	req, err := s.readSearch()
	if err != nil || req == nil {
		return err
	}
	// Bring flags and new messages up to date first (expunges wait: no
	// EXPUNGE during SEARCH, RFC 9051 §7.5.1).
	if err := s.sync(false); err != nil {
		return err
	}
	v := s.sel
	matches, highest, err := s.runSearch(v, req.root)
	if err != nil {
		if req.ret.save {
			v.searchRes = nil
		}
		return err
	}
	nums := s.seqsOrUIDs(v, matches, c.uid)
	usesModSeq := containsOp(req.root, "MODSEQ")
	if usesModSeq {
		s.enabled.condstore = true
	}
	if req.ret.save {
		switch {
		case (req.ret.min || req.ret.max) && !req.ret.all && !req.ret.count:
			var saved []store.UID
			if len(matches) > 0 {
				if req.ret.min {
					saved = append(saved, matches[0])
				}
				if req.ret.max && (len(saved) == 0 || saved[0] != matches[len(matches)-1]) {
					saved = append(saved, matches[len(matches)-1])
				}
			}
			v.searchRes = saved
		default:
			v.searchRes = slices.Clone(matches)
		}
	}
	e := &s.enc
	if !req.esearch && !s.enabled.rev2 {
		e.Atom("* SEARCH")
		for _, n := range nums {
			e.SP().Number(n)
		}
		if usesModSeq && len(nums) > 0 {
			e.Atom(" (MODSEQ ").Number64(highest).Byte(')')
		}
		return e.CRLF()
	}
	ret := req.ret
	if !req.esearch {
		ret.all = true
	}
	if ret.save && !ret.min && !ret.max && !ret.all && !ret.count {
		return nil // RFC 5182 §2.4: SAVE alone returns no ESEARCH
	}
	e.Atom(`* ESEARCH (TAG `).String(c.tag).Byte(')')
	if c.uid {
		e.Atom(" UID")
	}
	if len(nums) > 0 {
		if ret.min {
			e.Atom(" MIN ").Number(nums[0])
		}
		if ret.max {
			e.Atom(" MAX ").Number(nums[len(nums)-1])
		}
		if ret.all {
			e.Atom(" ALL ").Atom(imapwire.FormatNumSet(nums))
		}
	}
	if ret.count {
		e.Atom(" COUNT ").Number(uint32(len(nums)))
	}
	if usesModSeq && len(nums) > 0 {
		e.Atom(" MODSEQ ").Number64(highest)
	}
	return e.CRLF()
}

func containsOp(k *searchKey, op string) bool {
	if k.op == op {
		return true
	}
	for _, kid := range k.kids {
		if containsOp(kid, op) {
			return true
		}
	}
	return false
}

// runSearch evaluates a program over the view and returns the matching
// UIDs in order and the highest mod-sequence among them.
func (s *session) runSearch(v *view, root *searchKey) ([]store.UID, uint64, error) {
	ctx := &searchCtx{v: v, now: time.Now(), text: map[*searchKey]map[store.UID]bool{}, resolved: map[*searchKey][]imapwire.SeqRange{}}
	seqKey := false
	var resolveSets func(k *searchKey)
	resolveSets = func(k *searchKey) {
		switch k.op {
		case "SEQ", "UID":
			if k.op == "SEQ" && s.enabled.uidOnly {
				seqKey = true
			}
			uids := v.resolveLenient(k.set, k.op == "UID")
			// Store the selection as ranges of positions or UIDs.
			nums := make([]uint32, len(uids))
			for j, u := range uids {
				if k.op == "UID" {
					nums[j] = uint32(u)
				} else {
					nums[j] = uint32(v.index(u) + 1)
				}
			}
			ctx.resolved[k] = numsToRanges(nums)
		}
		for _, kid := range k.kids {
			resolveSets(kid)
		}
	}
	resolveSets(root)
	if seqKey {
		// RFC 9586 §3: no sequence numbers in a search under UIDONLY.
		return nil, 0, errUIDRequired
	}
	var needs searchNeeds
	needs.walk(root)
	all := slices.Clone(v.uids)
	st := s.srv.opts.Store
	if k := headerPrefilter(root); k != nil {
		// The database narrows the rows to read; match below decides.
		cands, ok, err := st.HeaderCandidates(s.ctx, s.account.ID, v.mbox.ID, strings.ToLower(k.op), k.str)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			all = intersectUIDs(all, cands)
		}
	}
	for _, k := range needs.text {
		found, err := st.SearchText(s.ctx, s.account.ID, v.mbox.ID, all, []string{k.str}, k.op == "TEXT")
		if err != nil {
			return nil, 0, err
		}
		set := make(map[store.UID]bool, len(found))
		for _, u := range found {
			set[u] = true
		}
		ctx.text[k] = set
	}
	var out []store.UID
	var highest uint64
	add := func(i int) {
		out = append(out, v.uids[i])
		highest = max(highest, v.modseqs[i])
	}
	if !needs.row {
		for i := range v.uids {
			ctx.i = i
			if ctx.match(root) {
				add(i)
			}
		}
		return out, highest, nil
	}
	opts := store.FetchOptions{Headers: needs.headers, Structure: needs.rawHeader}
	err := st.Fetch(s.ctx, s.account.ID, v.mbox.ID, all, opts, func(m *store.Message) error {
		i := v.index(m.UID)
		if i < 0 {
			return nil
		}
		ctx.i, ctx.m, ctx.raw = i, m, nil
		if needs.rawHeader {
			raw, err := s.readRawHeader(m)
			if err != nil {
				return err
			}
			ctx.raw = raw
		}
		if ctx.match(root) {
			add(i)
		}
		return nil
	})
	return out, highest, err
}

// headerPrefilter returns a FROM, SUBJECT, TO, CC or BCC key that every
// match of root must satisfy (root itself, or a term of a top-level AND),
// or nil.
func headerPrefilter(root *searchKey) *searchKey {
	usable := func(k *searchKey) bool {
		switch k.op {
		case "FROM", "SUBJECT", "TO", "CC", "BCC":
			return k.str != ""
		}
		return false
	}
	if usable(root) {
		return root
	}
	if root.op == "AND" {
		for _, k := range root.kids {
			if usable(k) {
				return k
			}
		}
	}
	return nil
}

// intersectUIDs keeps the UIDs of a (ascending) that are in b (ascending).
func intersectUIDs(a, b []store.UID) []store.UID {
	out := a[:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// readRawHeader reads and splits a message's header block.
func (s *session) readRawHeader(m *store.Message) (map[string][]string, error) {
	end := int64(0)
	if m.Structure != nil {
		end = m.Structure.BodyStart
	}
	if end <= 0 {
		return map[string][]string{}, nil
	}
	end = min(end, 1<<20)
	b, err := s.srv.opts.Store.OpenBody(s.ctx, m.BlobID)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	hdr := make([]byte, end)
	if _, err := b.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return parseRawHeader(hdr), nil
}

// numsToRanges turns ascending numbers into ranges for RangesContain.
func numsToRanges(nums []uint32) []imapwire.SeqRange {
	var out []imapwire.SeqRange
	for _, n := range nums {
		if k := len(out); k > 0 && out[k-1].Stop+1 == n {
			out[k-1].Stop = n
			continue
		}
		out = append(out, imapwire.SeqRange{Start: n, Stop: n})
	}
	return out
}
