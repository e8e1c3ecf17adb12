package dovecotdiff

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// node is one parsed element of a response line: an atom, a string (quoted
// or literal: the distinction is not compared) or a parenthesized list.
type node struct {
	atom  string
	str   *string
	list  []node
	isLst bool
}

// parseNodes splits s into nodes until the end or an unmatched ')'; it
// returns the nodes and the unparsed rest.
func parseNodes(s string) ([]node, string) {
	var out []node
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return out, ""
		}
		switch c := s[0]; {
		case c == ')':
			return out, s[1:]
		case c == '(':
			l, rest := parseNodes(s[1:])
			out = append(out, node{list: l, isLst: true})
			s = rest
		case c == '"':
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			v := b.String()
			out = append(out, node{str: &v})
			s = s[min(i+1, len(s)):]
		case c == '{' || (c == '~' && len(s) > 1 && s[1] == '{'):
			j := strings.Index(s, "}\r\n")
			k := strings.IndexByte(s, '{')
			n, err := strconv.Atoi(strings.TrimSuffix(s[k+1:max(j, k+1)], "+"))
			if j < 0 || err != nil || j+3+n > len(s) {
				out = append(out, node{atom: s})
				return out, ""
			}
			v := s[j+3 : j+3+n]
			out = append(out, node{str: &v})
			s = s[j+3+n:]
		default:
			i, depth := 0, 0
			for ; i < len(s); i++ {
				ch := s[i]
				if ch == '[' {
					depth++
				} else if ch == ']' && depth > 0 {
					depth--
				} else if depth == 0 && (ch == ' ' || ch == '(' || ch == ')') {
					break
				}
			}
			out = append(out, node{atom: s[:i]})
			s = s[i:]
		}
	}
}

func (n node) String() string {
	switch {
	case n.isLst:
		return "(" + joinNodes(n.list) + ")"
	case n.str != nil:
		return strconv.Quote(*n.str)
	}
	return n.atom
}

func joinNodes(ns []node) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = n.String()
	}
	return strings.Join(parts, " ")
}

// sortedAtoms sorts a flag or capability list; flags compare
// case-insensitively (RFC 9051 §2.3.2), so they are upper-cased.
func sortedAtoms(ns []node) []node {
	out := append([]node(nil), ns...)
	for i := range out {
		out[i].atom = strings.ToUpper(out[i].atom)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// sortPairs sorts a list of name-value pairs (FETCH items, STATUS items)
// by name; their order is free (RFC 9051 §7.5.2, §7.2.4). fix rewrites a
// value given its upper-cased name.
func sortPairs(ns []node, fix func(name string, v node) node) []node {
	type pair struct {
		k string
		v node
	}
	var ps []pair
	for i := 0; i+1 < len(ns); i += 2 {
		k := strings.ToUpper(ns[i].atom)
		ps = append(ps, pair{k, fix(k, ns[i+1])})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].k < ps[j].k })
	var out []node
	for _, p := range ps {
		out = append(out, node{atom: p.k}, p.v)
	}
	if len(ns)%2 == 1 {
		out = append(out, ns[len(ns)-1])
	}
	return out
}

func atomNode(s string) node { return node{atom: s} }

// canonicalSet rewrites a sequence set with ranges spelled out as
// ascending runs, so "1,2,3" and "1:3" compare equal; order is kept.
func canonicalSet(s string) string {
	var nums []int
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		x, err1 := strconv.Atoi(a)
		if !isRange {
			if err1 != nil {
				return s
			}
			nums = append(nums, x)
			continue
		}
		y, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || y-x > 100000 || x-y > 100000 {
			return s
		}
		if x <= y {
			for i := x; i <= y; i++ {
				nums = append(nums, i)
			}
		} else {
			for i := x; i >= y; i-- {
				nums = append(nums, i)
			}
		}
	}
	var parts []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d:%d", nums[i], nums[j]))
		} else {
			parts = append(parts, strconv.Itoa(nums[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

var statusLine = regexp.MustCompile(`^(TAG|\*) (OK|NO|BAD|BYE|PREAUTH)\b ?(.*)$`)

// normalizer rewrites one server's responses into comparable form. It
// collects the capabilities it strips out; one normalizer per server.
type normalizer struct {
	caps map[string]bool
}

func (z *normalizer) addCaps(ns []node) {
	for _, n := range ns {
		z.caps[strings.ToUpper(n.atom)] = true
	}
}

// code normalizes a response code's text (without brackets).
func (z *normalizer) code(c string) string {
	ns, _ := parseNodes(c)
	if len(ns) == 0 {
		return c
	}
	name := strings.ToUpper(ns[0].atom)
	args := ns[1:]
	switch name {
	case "CAPABILITY":
		z.addCaps(args)
		return "CAPABILITY <caps>"
	case "UIDVALIDITY":
		return "UIDVALIDITY <uidvalidity>"
	case "HIGHESTMODSEQ":
		return "HIGHESTMODSEQ <modseq>"
	case "COPYUID":
		if len(args) == 3 {
			return "COPYUID <uidvalidity> " + canonicalSet(args[1].atom) + " " + canonicalSet(args[2].atom)
		}
	case "APPENDUID":
		if len(args) == 2 {
			return "APPENDUID <uidvalidity> " + canonicalSet(args[1].atom)
		}
	case "MAILBOXID":
		return "MAILBOXID (<id>)"
	case "MODIFIED":
		if len(args) == 1 {
			return "MODIFIED " + canonicalSet(args[0].atom)
		}
	case "PERMANENTFLAGS":
		if len(args) == 1 && args[0].isLst {
			return "PERMANENTFLAGS " + node{isLst: true, list: sortedAtoms(args[0].list)}.String()
		}
	}
	if len(args) == 0 {
		return name
	}
	return name + " " + joinNodes(args)
}

// line normalizes one response line.
func (z *normalizer) line(l string) string {
	if m := statusLine.FindStringSubmatch(l); m != nil {
		if m[2] == "BAD" {
			return m[1] + " BAD" // texts and codes of BAD differ freely
		}
		out := m[1] + " " + m[2]
		if rest := m[3]; strings.HasPrefix(rest, "[") {
			depth, i := 0, 0
			for ; i < len(rest); i++ {
				if rest[i] == '[' {
					depth++
				} else if rest[i] == ']' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			out += " [" + z.code(rest[1:min(i, len(rest))]) + "]"
		}
		return out
	}
	if !strings.HasPrefix(l, "* ") {
		return l
	}
	ns, _ := parseNodes(l[2:])
	if len(ns) == 0 {
		return l
	}
	first := strings.ToUpper(ns[0].atom)
	switch first {
	case "CAPABILITY":
		z.addCaps(ns[1:])
		return "* CAPABILITY <caps>"
	case "ENABLED":
		return strings.TrimSpace("* ENABLED " + joinNodes(sortedAtoms(ns[1:])))
	case "ID":
		return "* ID <server identity>"
	case "FLAGS":
		if len(ns) == 2 && ns[1].isLst {
			return "* FLAGS " + node{isLst: true, list: sortedAtoms(ns[1].list)}.String()
		}
	case "SEARCH":
		var nums []int
		var tail []node
		for _, n := range ns[1:] {
			if v, err := strconv.Atoi(n.atom); err == nil && !n.isLst {
				nums = append(nums, v)
			} else {
				tail = append(tail, node{atom: "(MODSEQ <modseq>)"})
			}
		}
		sort.Ints(nums)
		out := "* SEARCH"
		for _, v := range nums {
			out += " " + strconv.Itoa(v)
		}
		if len(tail) > 0 {
			out += " " + joinNodes(tail)
		}
		return out
	case "ESEARCH":
		rest := ns[1:]
		out := "* ESEARCH"
		if len(rest) > 0 && rest[0].isLst {
			out += ` (TAG "TAG")`
			rest = rest[1:]
		}
		if len(rest) > 0 && strings.EqualFold(rest[0].atom, "UID") {
			out += " UID"
			rest = rest[1:]
		}
		rest = sortPairs(rest, func(k string, v node) node {
			switch k {
			case "ALL":
				return atomNode(canonicalSet(v.atom))
			case "MODSEQ":
				return atomNode("<modseq>")
			}
			return v
		})
		if len(rest) > 0 {
			out += " " + joinNodes(rest)
		}
		return out
	case "LIST", "LSUB":
		if len(ns) >= 4 && ns[1].isLst {
			ns[1].list = sortedAtoms(ns[1].list)
			for i := 4; i < len(ns); i++ {
				if ns[i].isLst {
					ns[i].list = sortPairs(ns[i].list, func(_ string, v node) node {
						if v.isLst {
							v.list = sortedAtoms(v.list)
						}
						return v
					})
				}
			}
			// A mailbox name may be an atom or a string.
			if ns[3].str != nil {
				ns[3] = atomNode(*ns[3].str)
			}
			return "* " + first + " " + joinNodes(ns[1:])
		}
	case "STATUS":
		if len(ns) == 3 && ns[2].isLst {
			if ns[1].str != nil {
				ns[1] = atomNode(*ns[1].str)
			}
			ns[2].list = sortPairs(ns[2].list, statusFix)
			return "* STATUS " + joinNodes(ns[1:])
		}
	case "VANISHED":
		if len(ns) >= 2 {
			ns[len(ns)-1] = atomNode(canonicalSet(ns[len(ns)-1].atom))
			return "* " + joinNodes(ns)
		}
	}
	if len(ns) >= 3 && strings.EqualFold(ns[1].atom, "FETCH") && ns[2].isLst {
		ns[2].list = sortPairs(ns[2].list, fetchFix)
		return "* " + ns[0].atom + " FETCH " + ns[2].String()
	}
	return "* " + joinNodes(ns)
}

func statusFix(k string, v node) node {
	switch k {
	case "UIDVALIDITY":
		return atomNode("<uidvalidity>")
	case "HIGHESTMODSEQ":
		return atomNode("<modseq>")
	}
	return v
}

func fetchFix(k string, v node) node {
	switch k {
	case "INTERNALDATE":
		// Deliveries to the two servers happen at different instants:
		// a date within a day of now becomes "<recent>"; a date APPEND
		// set explicitly is compared as an instant.
		if v.str != nil {
			if d, err := time.Parse("_2-Jan-2006 15:04:05 -0700", *v.str); err == nil {
				if time.Since(d).Abs() < 24*time.Hour {
					return atomNode("<recent>")
				}
				return atomNode(d.UTC().Format(time.RFC3339))
			}
		}
		return atomNode("<unparsable:" + v.String() + ">")
	case "MODSEQ":
		return atomNode("(<modseq>)")
	case "FLAGS":
		if v.isLst {
			v.list = sortedAtoms(v.list)
		}
	case "BODY", "BODYSTRUCTURE":
		// Type, subtype, parameter names, encodings and disposition
		// types are case-insensitive (RFC 9051 §7.5.2, RFC 2045 §5.1);
		// Dovecot echoes the message's case, postern upper-cases.
		return upperStrings(v)
	}
	return v
}

// upperStrings upper-cases every string in a tree.
func upperStrings(n node) node {
	if n.str != nil {
		u := strings.ToUpper(*n.str)
		n.str = &u
	}
	if n.isLst {
		l := make([]node, len(n.list))
		for i, c := range n.list {
			l[i] = upperStrings(c)
		}
		n.list = l
	}
	return n
}

// responses normalizes the lines of one command's response. Untagged
// lines are sorted, except that EXPUNGE and VANISHED lines stay where they
// are and bound the runs sorted: their order changes sequence numbers.
func (z *normalizer) responses(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = z.line(l)
	}
	isBarrier := func(l string) bool {
		return !strings.HasPrefix(l, "* ") || strings.HasSuffix(l, " EXPUNGE") || strings.HasPrefix(l, "* VANISHED")
	}
	start := 0
	for i := 0; i <= len(out); i++ {
		if i == len(out) || isBarrier(out[i]) {
			sort.Strings(out[start:i])
			start = i + 1
		}
	}
	return out
}
