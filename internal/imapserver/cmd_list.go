package imapserver

import (
	"slices"
	"strings"

	"github.com/postern/postern/internal/store"
)

// listRequest is a parsed LIST command (RFC 9051 §6.3.9, LIST-EXTENDED
// RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS RFC 5819).
type listRequest struct {
	selSubscribed, selSpecialUse, recursiveMatch bool
	retSubscribed, retChildren, retSpecialUse    bool
	status                                       statusItems
	patterns                                     []string
}

// cmdList: LIST.
func cmdList(s *session, c *command) error {
	d := s.dec
	var req listRequest
	if !d.ExpectSP() {
		return nil
	}
	if b, ok := d.PeekByte(); ok && b == '(' {
		if !d.ExpectList(func() bool {
			var o string
			if !d.Atom(&o) {
				return false
			}
			switch strings.ToUpper(o) {
			case "SUBSCRIBED":
				req.selSubscribed = true
			case "SPECIAL-USE":
				req.selSpecialUse = true
			case "RECURSIVEMATCH":
				req.recursiveMatch = true
			case "REMOTE":
			default:
				d.Errorf("unknown selection option %s", sanitize(o))
				return false
			}
			return true
		}) || !d.ExpectSP() {
			return nil
		}
		if req.recursiveMatch && !req.selSubscribed {
			// RFC 5258 §3: RECURSIVEMATCH needs another selection option.
			d.Errorf("RECURSIVEMATCH without a base selection option")
			return nil
		}
	}
	var ref string
	if !d.ExpectMailbox(&ref) || !d.ExpectSP() {
		return nil
	}
	if b, ok := d.PeekByte(); ok && b == '(' {
		if !d.ExpectList(func() bool {
			var p string
			if !d.ListMailbox(&p) {
				return false
			}
			req.patterns = append(req.patterns, p)
			return true
		}) {
			return nil
		}
	} else {
		var p string
		if !d.Expect(d.ListMailbox(&p), "mailbox pattern") {
			return nil
		}
		req.patterns = []string{p}
	}
	if d.SP() {
		var ret string
		if !d.ExpectAtom(&ret) || !d.Expect(strings.EqualFold(ret, "RETURN"), "RETURN") || !d.ExpectSP() {
			return nil
		}
		if !d.ExpectList(func() bool {
			var o string
			if !d.Atom(&o) {
				return false
			}
			switch strings.ToUpper(o) {
			case "SUBSCRIBED":
				req.retSubscribed = true
			case "CHILDREN":
				req.retChildren = true
			case "SPECIAL-USE":
				req.retSpecialUse = true
			case "STATUS":
				if !d.ExpectSP() {
					return false
				}
				items, ok := s.readStatusItems()
				if !ok {
					return false
				}
				req.status = items
			default:
				d.Errorf("unknown return option %s", sanitize(o))
				return false
			}
			return true
		}) {
			return nil
		}
	}
	if !d.ExpectCRLF() {
		return nil
	}
	if len(req.patterns) == 1 && req.patterns[0] == "" && !req.selSubscribed && !req.selSpecialUse {
		// RFC 9051 §6.3.9: an empty pattern asks for the separator.
		s.enc.Atom(`* LIST (\Noselect) "/" ""`).CRLF()
		return nil
	}
	for i, p := range req.patterns {
		req.patterns[i] = canonicalPattern(joinReference(ref, p))
	}
	return s.list(&req, "LIST")
}

// cmdLsub: LSUB (RFC 3501 §6.3.9).
func cmdLsub(s *session, c *command) error {
	d := s.dec
	var ref, pat string
	if !d.ExpectSP() || !d.ExpectMailbox(&ref) || !d.ExpectSP() || !d.Expect(d.ListMailbox(&pat), "mailbox pattern") || !d.ExpectCRLF() {
		return nil
	}
	if pat == "" {
		s.enc.Atom(`* LSUB (\Noselect) "/" ""`).CRLF()
		return nil
	}
	req := listRequest{selSubscribed: true, patterns: []string{canonicalPattern(joinReference(ref, pat))}}
	return s.list(&req, "LSUB")
}

func joinReference(ref, pat string) string {
	if ref == "" || strings.HasPrefix(pat, "/") {
		return pat
	}
	if strings.HasSuffix(ref, "/") {
		return ref + pat
	}
	return ref + "/" + pat
}

// canonicalPattern spells a leading INBOX in upper case so that it
// matches case-insensitively (RFC 9051 §5.1).
func canonicalPattern(p string) string {
	if len(p) >= 5 && strings.EqualFold(p[:5], "INBOX") && (len(p) == 5 || p[5] == '/') {
		return "INBOX" + p[5:]
	}
	return p
}

// matchPattern reports whether name matches a LIST pattern: "*" matches
// anything, "%" anything but the separator.
func matchPattern(pat, name string) bool {
	// prev[j]: pat[:i] matches name[:j].
	prev := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	prev[0] = true
	for i := 0; i < len(pat); i++ {
		p := pat[i]
		cur[0] = prev[0] && (p == '*' || p == '%')
		for j := 1; j <= len(name); j++ {
			switch p {
			case '*':
				cur[j] = prev[j] || cur[j-1]
			case '%':
				cur[j] = prev[j] || (cur[j-1] && name[j-1] != '/')
			default:
				cur[j] = prev[j-1] && name[j-1] == p
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(name)]
}

type listEntry struct {
	name       string
	exists     bool
	mb         store.Mailbox
	subscribed bool
	children   bool
	childSub   bool // a descendant is subscribed (CHILDINFO)
}

// list answers LIST or LSUB for a parsed request.
func (s *session) list(req *listRequest, verb string) error {
	st := s.srv.opts.Store
	mbs, err := st.Mailboxes(s.ctx, s.account.ID)
	if err != nil {
		return err
	}
	subs, err := st.Subscriptions(s.ctx, s.account.ID)
	if err != nil {
		return err
	}
	entries := map[string]*listEntry{}
	for _, mb := range mbs {
		entries[mb.Name] = &listEntry{name: mb.Name, exists: true, mb: mb}
	}
	for _, n := range subs {
		e := entries[n]
		if e == nil {
			e = &listEntry{name: n}
			entries[n] = e
		}
		e.subscribed = true
	}
	for _, mb := range mbs {
		for p := mb.Name; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			if e := entries[p]; e != nil {
				e.children = true
			}
		}
	}
	for _, n := range subs {
		for p := n; ; {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
			if e := entries[p]; e != nil {
				e.childSub = true
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "INBOX":
			return -1
		case b == "INBOX":
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		e := entries[n]
		matched := false
		for _, p := range req.patterns {
			if matchPattern(p, n) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		childInfo := false
		switch {
		case req.selSubscribed && !e.subscribed:
			if !(req.recursiveMatch && e.childSub) {
				continue
			}
			childInfo = true
		case req.selSubscribed && req.recursiveMatch && e.childSub:
			childInfo = true
		}
		if !e.exists && !(e.subscribed && req.selSubscribed) {
			// Only the SUBSCRIBED selection shows names that do not
			// exist (RFC 5258 §3.1).
			continue
		}
		if req.selSpecialUse && e.mb.SpecialUse == "" {
			continue
		}
		var attrs []string
		if !e.exists {
			if verb == "LSUB" {
				attrs = append(attrs, `\Noselect`)
			} else {
				attrs = append(attrs, `\NonExistent`)
			}
		} else if verb == "LIST" {
			if e.children {
				attrs = append(attrs, `\HasChildren`)
			} else {
				attrs = append(attrs, `\HasNoChildren`)
			}
		}
		if verb == "LIST" && e.subscribed && (req.selSubscribed || req.retSubscribed) {
			attrs = append(attrs, `\Subscribed`)
		}
		if e.mb.SpecialUse != "" && verb == "LIST" {
			attrs = append(attrs, e.mb.SpecialUse)
		}
		enc := &s.enc
		enc.Atom("* ").Atom(verb).SP().Flags(attrs).Atom(` "/" `).Mailbox(n)
		if childInfo {
			enc.Atom(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		enc.CRLF()
		if len(req.status) > 0 && e.exists {
			if err := s.writeStatus(e.mb, req.status); err != nil {
				return err
			}
		}
	}
	return nil
}
