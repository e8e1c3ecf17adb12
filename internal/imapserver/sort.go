package imapserver

import (
	"cmp"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// sortKey is one SORT criterion (RFC 5256 §3, DISPLAY* of RFC 5957).
type sortKey struct {
	name    string
	reverse bool
}

// sortable is what SORT compares for one message.
type sortable struct {
	uid                    store.UID
	seq                    int
	arrival, date          time.Time
	size                   int64
	subject                string
	from, to, cc           string
	displayFrom, displayTo string
}

// cmdSort: SORT and UID SORT (RFC 5256).
func cmdSort(s *session, c *command) error {
	d := s.dec
	var keys []sortKey
	if !d.ExpectSP() {
		return nil
	}
	reverse := false
	if !d.ExpectList(func() bool {
		var a string
		if !d.Atom(&a) {
			return false
		}
		a = strings.ToUpper(a)
		switch a {
		case "REVERSE":
			if reverse {
				d.Errorf("REVERSE twice")
				return false
			}
			reverse = true
			return true
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
			keys = append(keys, sortKey{name: a, reverse: reverse})
			reverse = false
			return true
		}
		d.Errorf("unknown sort criterion %s", sanitize(a))
		return false
	}) {
		return nil
	}
	if reverse || len(keys) == 0 {
		d.Errorf("incomplete sort criteria")
		return nil
	}
	var charset string
	if !d.ExpectSP() || !d.ExpectAString(&charset) {
		return nil
	}
	if !d.ExpectSP() {
		return nil
	}
	crit, ok := s.readSearchKeys()
	if !ok || !d.ExpectCRLF() {
		return nil
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
	items, err := s.sortables(v, matches)
	if err != nil {
		return err
	}
	slices.SortStableFunc(items, func(a, b sortable) int {
		for _, k := range keys {
			r := compareSort(k.name, &a, &b)
			if k.reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		// RFC 5256 §3: ties go by sequence number.
		return cmp.Compare(a.seq, b.seq)
	})
	e := &s.enc
	e.Atom("* SORT")
	for _, it := range items {
		if c.uid {
			e.SP().Number(uint32(it.uid))
		} else {
			e.SP().Number(uint32(it.seq))
		}
	}
	return e.CRLF()
}

func compareSort(name string, a, b *sortable) int {
	switch name {
	case "ARRIVAL":
		return a.arrival.Compare(b.arrival)
	case "DATE":
		return a.date.Compare(b.date)
	case "SIZE":
		return cmp.Compare(a.size, b.size)
	case "SUBJECT":
		return strings.Compare(a.subject, b.subject)
	case "FROM":
		return strings.Compare(a.from, b.from)
	case "TO":
		return strings.Compare(a.to, b.to)
	case "CC":
		return strings.Compare(a.cc, b.cc)
	case "DISPLAYFROM":
		return strings.Compare(a.displayFrom, b.displayFrom)
	case "DISPLAYTO":
		return strings.Compare(a.displayTo, b.displayTo)
	}
	return 0
}

// sortables loads the sort fields of the given messages.
func (s *session) sortables(v *view, uids []store.UID) ([]sortable, error) {
	out := make([]sortable, 0, len(uids))
	err := s.srv.opts.Store.Fetch(s.ctx, s.account.ID, v.mbox.ID, uids, store.FetchOptions{Headers: true}, func(m *store.Message) error {
		i := v.index(m.UID)
		if i < 0 {
			return nil
		}
		it := sortable{uid: m.UID, seq: i + 1, arrival: m.InternalDate, date: m.Headers.Date, size: m.Size}
		if it.date.IsZero() {
			// RFC 5256 §3: without a usable Date, use INTERNALDATE.
			it.date = m.InternalDate
		}
		it.subject = baseSubject(m.Headers.Subject)
		it.from, it.displayFrom = sortAddress(m.Headers.From)
		it.to, it.displayTo = sortAddress(m.Headers.To)
		it.cc, _ = sortAddress(m.Headers.Cc)
		out = append(out, it)
		return nil
	})
	return out, err
}

// sortAddress returns the lower-cased local part of the first address
// (RFC 5256 FROM/TO/CC) and its display name or, without one, the
// address (RFC 5957 DISPLAYFROM/DISPLAYTO).
func sortAddress(field string) (mailbox, display string) {
	if field == "" {
		return "", ""
	}
	list, err := mail.ParseAddressList(field)
	if err != nil || len(list) == 0 {
		f := strings.ToLower(strings.TrimSpace(field))
		if i := strings.IndexByte(f, '<'); i >= 0 {
			f = f[i+1:]
		}
		if i := strings.IndexByte(f, '@'); i >= 0 {
			f = f[:i]
		}
		return f, strings.ToLower(strings.TrimSpace(field))
	}
	a := list[0]
	local := a.Address
	if i := strings.LastIndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	display = a.Name
	if display == "" {
		display = a.Address
	}
	return strings.ToLower(local), strings.ToLower(display)
}

// baseSubject is the base subject of RFC 5256 §2.1, simplified: leading
// "re:", "fw:", "fwd:" and "[tag]" prefixes and trailing "(fwd)" are
// removed repeatedly, whitespace folded, case ignored.
func baseSubject(subj string) string {
	s := strings.ToLower(strings.Join(strings.Fields(subj), " "))
	for {
		before := s
		for strings.HasSuffix(s, "(fwd)") {
			s = strings.TrimSpace(strings.TrimSuffix(s, "(fwd)"))
		}
		for _, p := range []string{"re:", "fw:", "fwd:"} {
			if strings.HasPrefix(s, p) {
				s = strings.TrimSpace(s[len(p):])
			}
		}
		if strings.HasPrefix(s, "[") {
			if j := strings.IndexByte(s, ']'); j > 0 && strings.TrimSpace(s[j+1:]) != "" {
				s = strings.TrimSpace(s[j+1:])
			}
		}
		if strings.HasPrefix(s, "[fwd:") && strings.HasSuffix(s, "]") {
			s = strings.TrimSpace(s[5 : len(s)-1])
		}
		if s == before {
			return s
		}
	}
}
