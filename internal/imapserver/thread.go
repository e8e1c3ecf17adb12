package imapserver

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// threadNode is a container of the REFERENCES algorithm (RFC 5256 §2.2);
// msg is nil for a message that is referenced but not in the result.
type threadNode struct {
	id       string
	msg      *threadMsg
	parent   *threadNode
	children []*threadNode
}

type threadMsg struct {
	num     uint32 // sequence number or UID
	seq     int
	date    time.Time
	subject string
	isReply bool
}

// cmdThread: THREAD and UID THREAD (RFC 5256) with ORDEREDSUBJECT and
// REFERENCES.
func cmdThread(s *session, c *command) error {
	d := s.dec
	var algo, charset string
	if !d.ExpectSP() || !d.ExpectAtom(&algo) || !d.ExpectSP() || !d.ExpectAString(&charset) || !d.ExpectSP() {
		return nil
	}
	crit, ok := s.readSearchKeys()
	if !ok || !d.ExpectCRLF() {
		return nil
	}
	algo = strings.ToUpper(algo)
	if algo != "ORDEREDSUBJECT" && algo != "REFERENCES" {
		return errBad("Unsupported threading algorithm")
	}
	switch strings.ToUpper(charset) {
	case "UTF-8", "US-ASCII":
	default:
		return errNo("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	// Bring flags and new messages up to date first (expunges wait: no
	// EXPUNGE during SEARCH, RFC 9051 §7.5.1).
	if err := s.sync(false); err != nil {
		return err
	}
	v := s.sel
	matches, _, err := s.runSearch(v, &searchKey{op: "AND", kids: crit})
	if err != nil {
		return err
	}
	var msgs []*threadMsg
	byID := map[string]*threadNode{}
	getNode := func(id string) *threadNode {
		n := byID[id]
		if n == nil {
			n = &threadNode{id: id}
			byID[id] = n
		}
		return n
	}
	err = s.srv.opts.Store.Fetch(s.ctx, s.account.ID, v.mbox.ID, matches, store.FetchOptions{Headers: true}, func(m *store.Message) error {
		i := v.index(m.UID)
		if i < 0 {
			return nil
		}
		tm := &threadMsg{seq: i + 1, date: m.Headers.Date, subject: baseSubject(m.Headers.Subject)}
		if tm.date.IsZero() {
			tm.date = m.InternalDate
		}
		tm.num = uint32(i + 1)
		if c.uid {
			tm.num = uint32(m.UID)
		}
		low := strings.ToLower(strings.TrimSpace(m.Headers.Subject))
		tm.isReply = strings.HasPrefix(low, "re:") || strings.HasPrefix(low, "fw") || strings.HasSuffix(low, "(fwd)")
		msgs = append(msgs, tm)
		if algo != "REFERENCES" {
			return nil
		}
		// RFC 5256 §2.2 step 1.
		id := m.Headers.MessageID
		if id == "" || (byID[id] != nil && byID[id].msg != nil) {
			id = "\x00" + strconv.Itoa(int(m.UID))
		}
		n := getNode(id)
		n.msg = tm
		refs := m.Headers.References
		if len(refs) == 0 && m.Headers.InReplyTo != "" {
			if f := strings.Fields(m.Headers.InReplyTo); len(f) > 0 {
				refs = f[:1]
			}
		}
		var prev *threadNode
		for _, r := range refs {
			rn := getNode(r)
			if prev != nil && rn.parent == nil && rn != prev && !isAncestor(rn, prev) {
				link(prev, rn)
			}
			prev = rn
		}
		if prev != nil && prev != n && !isAncestor(n, prev) {
			if n.parent != nil {
				unlink(n)
			}
			link(prev, n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var roots []*threadNode
	if algo == "ORDEREDSUBJECT" {
		roots = orderedSubject(msgs)
	} else {
		roots = referencesRoots(byID)
	}
	e := &s.enc
	e.Atom("* THREAD")
	if len(roots) > 0 {
		e.SP()
	}
	var sb strings.Builder
	for _, r := range roots {
		sb.WriteByte('(')
		renderThread(&sb, r)
		sb.WriteByte(')')
	}
	e.Atom(sb.String())
	return e.CRLF()
}

func link(parent, child *threadNode) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(n *threadNode) {
	p := n.parent
	if p == nil {
		return
	}
	p.children = slices.DeleteFunc(p.children, func(c *threadNode) bool { return c == n })
	n.parent = nil
}

// isAncestor reports whether a is b or an ancestor of b.
func isAncestor(a, b *threadNode) bool {
	for x := b; x != nil; x = x.parent {
		if x == a {
			return true
		}
	}
	return false
}

// threadDate is the date a node sorts by: its message's, or its first
// child's (RFC 5256 §2.2 step 6).
func threadDate(n *threadNode) (time.Time, int) {
	if n.msg != nil {
		return n.msg.date, n.msg.seq
	}
	if len(n.children) > 0 {
		return threadDate(n.children[0])
	}
	return time.Time{}, 0
}

func sortThreads(ns []*threadNode) {
	for _, n := range ns {
		sortThreads(n.children)
	}
	slices.SortStableFunc(ns, func(a, b *threadNode) int {
		da, sa := threadDate(a)
		db, sb := threadDate(b)
		if c := da.Compare(db); c != 0 {
			return c
		}
		return sa - sb
	})
}

// prune removes empty containers (step 4): an empty leaf goes away, an
// empty node's children move up to its parent (at the root only when it
// has a single child).
func prune(ns []*threadNode, root bool) []*threadNode {
	var out []*threadNode
	for _, n := range ns {
		n.children = prune(n.children, false)
		if n.msg == nil {
			switch {
			case len(n.children) == 0:
				continue
			case !root || len(n.children) == 1:
				for _, c := range n.children {
					c.parent = n.parent
				}
				out = append(out, n.children...)
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

func referencesRoots(byID map[string]*threadNode) []*threadNode {
	var roots []*threadNode
	for _, n := range byID {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	sortThreads(roots) // stable order before pruning
	roots = prune(roots, true)
	// Step 5, simplified: roots with the same base subject are gathered,
	// replies under the original.
	bySubject := map[string]*threadNode{}
	var out []*threadNode
	for _, r := range roots {
		subj := ""
		if m := firstMsg(r); m != nil {
			subj = m.subject
		}
		if subj == "" {
			out = append(out, r)
			continue
		}
		prev := bySubject[subj]
		if prev == nil {
			bySubject[subj] = r
			out = append(out, r)
			continue
		}
		if rm := firstMsg(r); rm != nil && rm.isReply && prev.msg != nil {
			link(prev, r)
			continue
		}
		if prev.msg == nil {
			link(prev, r)
			continue
		}
		// Both originals: make them siblings under an empty container.
		holder := &threadNode{}
		idx := slices.Index(out, prev)
		link(holder, prev)
		link(holder, r)
		out[idx] = holder
		bySubject[subj] = holder
	}
	sortThreads(out)
	return out
}

func firstMsg(n *threadNode) *threadMsg {
	if n.msg != nil {
		return n.msg
	}
	for _, c := range n.children {
		if m := firstMsg(c); m != nil {
			return m
		}
	}
	return nil
}

// orderedSubject groups by base subject; each thread is its first message
// with the others as its children, threads ordered by their first date
// (RFC 5256 §3 ORDEREDSUBJECT).
func orderedSubject(msgs []*threadMsg) []*threadNode {
	slices.SortStableFunc(msgs, func(a, b *threadMsg) int {
		if c := strings.Compare(a.subject, b.subject); c != 0 {
			return c
		}
		if c := a.date.Compare(b.date); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	var roots []*threadNode
	var cur *threadNode
	for _, m := range msgs {
		if cur != nil && cur.msg.subject == m.subject {
			link(cur, &threadNode{msg: m})
			continue
		}
		cur = &threadNode{msg: m}
		roots = append(roots, cur)
	}
	slices.SortStableFunc(roots, func(a, b *threadNode) int {
		if c := a.msg.date.Compare(b.msg.date); c != 0 {
			return c
		}
		return a.msg.seq - b.msg.seq
	})
	return roots
}

// renderThread writes a thread's members without the outer parentheses.
func renderThread(sb *strings.Builder, n *threadNode) {
	if n.msg != nil {
		sb.WriteString(strconv.FormatUint(uint64(n.msg.num), 10))
	}
	switch len(n.children) {
	case 0:
	case 1:
		if n.msg != nil {
			sb.WriteByte(' ')
		}
		renderThread(sb, n.children[0])
	default:
		if n.msg != nil {
			sb.WriteByte(' ')
		}
		for _, c := range n.children {
			sb.WriteByte('(')
			renderThread(sb, c)
			sb.WriteByte(')')
		}
	}
}
