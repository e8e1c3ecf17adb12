package imapserver

import (
	"strings"
	"time"

	"github.com/postern/postern/internal/imapwire"
)

// searchKey is one node of a parsed SEARCH program (RFC 9051 §6.4.4).
type searchKey struct {
	op    string // upper-case key name; "SEQ" for a bare sequence set, "AND" for a list
	str   string // lower-cased needle for text keys
	field string // HEADER field name, lower case
	date  time.Time
	num   uint64
	set   imapwire.SeqSet
	kids  []*searchKey
}

// searchReturn are ESEARCH return options (RFC 4731, RFC 5182).
type searchReturn struct {
	min, max, all, count, save bool
}

// searchRequest is a parsed SEARCH command.
type searchRequest struct {
	esearch bool // RETURN given
	ret     searchReturn
	root    *searchKey
}

// readSearch parses the arguments of SEARCH.
func (s *session) readSearch() (*searchRequest, error) {
	d := s.dec
	req := &searchRequest{}
	if !d.ExpectSP() {
		return nil, nil
	}
	var word string
	// Optional RETURN and CHARSET come first; peek by reading a word and
	// falling back to key parsing when it is neither.
	var first *searchKey
	for first == nil {
		b, ok := d.PeekByte()
		if !ok {
			return nil, nil
		}
		if b == '(' || b == '$' || b == '*' || (b >= '0' && b <= '9') {
			break
		}
		if !d.Expect(d.Atom(&word), "search key") {
			return nil, nil
		}
		switch strings.ToUpper(word) {
		case "RETURN":
			if req.esearch || !d.ExpectSP() {
				d.Expect(false, "search key")
				return nil, nil
			}
			req.esearch = true
			if !d.ExpectList(func() bool {
				var o string
				if !d.Atom(&o) {
					return false
				}
				switch strings.ToUpper(o) {
				case "MIN":
					req.ret.min = true
				case "MAX":
					req.ret.max = true
				case "ALL":
					req.ret.all = true
				case "COUNT":
					req.ret.count = true
				case "SAVE":
					req.ret.save = true
				default:
					d.Errorf("unknown search return option %s", sanitize(o))
					return false
				}
				return true
			}) || !d.ExpectSP() {
				return nil, nil
			}
			if !req.ret.min && !req.ret.max && !req.ret.count && !req.ret.save {
				req.ret.all = true
			}
		case "CHARSET":
			var cs string
			if !d.ExpectSP() || !d.ExpectAString(&cs) || !d.ExpectSP() {
				return nil, nil
			}
			switch strings.ToUpper(cs) {
			case "UTF-8", "US-ASCII":
			default:
				// Parse the rest so the line is consumed, then refuse.
				s.readSearchKeys()
				if d.Err() != nil || !d.ExpectCRLF() {
					return nil, nil
				}
				return nil, errNo("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
			}
		default:
			k, ok := s.searchKeyNamed(word)
			if !ok {
				return nil, nil
			}
			first = k
		}
	}
	keys := []*searchKey{}
	if first != nil {
		keys = append(keys, first)
		if d.SP() {
			more, ok := s.readSearchKeys()
			if !ok {
				return nil, nil
			}
			keys = append(keys, more...)
		}
	} else {
		more, ok := s.readSearchKeys()
		if !ok {
			return nil, nil
		}
		keys = more
	}
	if !d.ExpectCRLF() {
		return nil, nil
	}
	req.root = &searchKey{op: "AND", kids: keys}
	return req, nil
}

// readSearchKeys reads search-key *(SP search-key).
func (s *session) readSearchKeys() ([]*searchKey, bool) {
	var keys []*searchKey
	for {
		k, ok := s.readSearchKey()
		if !ok {
			return nil, false
		}
		keys = append(keys, k)
		if b, ok := s.dec.PeekByte(); !ok || b != ' ' {
			return keys, true
		}
		s.dec.SP()
	}
}

// readSearchKey reads one search-key.
func (s *session) readSearchKey() (*searchKey, bool) {
	d := s.dec
	if !d.Enter() {
		return nil, false
	}
	defer d.Leave()
	b, ok := d.PeekByte()
	if !ok {
		return nil, false
	}
	if b == '(' {
		k := &searchKey{op: "AND"}
		if !d.ExpectList(func() bool {
			kk, ok := s.readSearchKey()
			if ok {
				k.kids = append(k.kids, kk)
			}
			return ok
		}) {
			return nil, false
		}
		return k, true
	}
	if b == '$' || b == '*' || (b >= '0' && b <= '9') {
		k := &searchKey{op: "SEQ"}
		return k, d.ExpectSeqSet(&k.set)
	}
	var word string
	if !d.Expect(d.Atom(&word), "search key") {
		return nil, false
	}
	return s.searchKeyNamed(word)
}

// searchKeyNamed finishes a key whose name was read.
func (s *session) searchKeyNamed(word string) (*searchKey, bool) {
	d := s.dec
	k := &searchKey{op: strings.ToUpper(word)}
	str := func() bool {
		var v string
		if !d.ExpectSP() || !d.ExpectAString(&v) {
			return false
		}
		k.str = strings.ToLower(v)
		return true
	}
	date := func() bool { return d.ExpectSP() && d.Expect(d.Date(&k.date), "date") }
	num := func() bool { return d.ExpectSP() && d.ExpectNumber64(&k.num) }
	var ok bool
	switch k.op {
	case "ALL", "ANSWERED", "DELETED", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
		"UNANSWERED", "UNDELETED", "UNFLAGGED", "UNSEEN", "DRAFT", "UNDRAFT", "SAVEDATESUPPORTED":
		ok = true
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		ok = str()
	case "EMAILID", "THREADID":
		var v string
		ok = d.ExpectSP() && d.ExpectAString(&v)
		k.str = v
	case "KEYWORD", "UNKEYWORD":
		var f string
		ok = d.ExpectSP() && d.Expect(d.Flag(&f), "keyword")
		k.str = strings.ToLower(f)
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		ok = date()
	case "LARGER", "SMALLER", "OLDER", "YOUNGER":
		ok = num()
	case "HEADER":
		var f string
		ok = d.ExpectSP() && d.ExpectAString(&f) && str()
		k.field = strings.ToLower(f)
	case "UID":
		ok = d.ExpectSP() && d.ExpectSeqSet(&k.set)
	case "NOT":
		var kid *searchKey
		if ok = d.ExpectSP(); ok {
			kid, ok = s.readSearchKey()
		}
		k.kids = []*searchKey{kid}
	case "OR":
		var a, b *searchKey
		if ok = d.ExpectSP(); ok {
			a, ok = s.readSearchKey()
		}
		if ok {
			if ok = d.ExpectSP(); ok {
				b, ok = s.readSearchKey()
			}
		}
		k.kids = []*searchKey{a, b}
	case "MODSEQ":
		// MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer
		// (RFC 7162 §3.1.5); per-flag metadata is not kept, so the entry
		// is parsed and ignored.
		if ok = d.ExpectSP(); ok {
			if b, _ := d.PeekByte(); b == '"' {
				var entry, typ string
				ok = d.ExpectString(&entry) && d.ExpectSP() && d.ExpectAtom(&typ) && d.ExpectSP()
			}
			ok = ok && d.ExpectNumber64(&k.num)
		}
	default:
		d.Errorf("unknown search key %s", sanitize(word))
	}
	return k, ok && d.Err() == nil
}
