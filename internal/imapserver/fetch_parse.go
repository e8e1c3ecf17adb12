package imapserver

import (
	"strconv"
	"strings"

	"github.com/postern/postern/internal/imapwire"
)

// fetchKind is one FETCH data item (RFC 9051 §6.4.5).
type fetchKind uint8

const (
	fetchUID fetchKind = iota
	fetchFlags
	fetchInternalDate
	fetchSize
	fetchEnvelope
	fetchBody // BODY without section: non-extensible BODYSTRUCTURE
	fetchBodyStructure
	fetchSection // BODY[...] / BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT
	fetchBinary
	fetchBinarySize
	fetchModSeq
	fetchSaveDate
	fetchPreview
	fetchEmailID
	fetchThreadID
)

// section is a parsed section-spec.
type section struct {
	path   []int
	spec   string // "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
	fields []string
}

// fetchAtt is one requested item.
type fetchAtt struct {
	kind    fetchKind
	peek    bool // does not set \Seen
	sec     section
	partial bool
	offset  int64
	count   int64
	// name is how the item is named in the response ("BODY[1.TEXT]",
	// "RFC822.HEADER"), without the partial origin.
	name string
}

// fetchRequest is a parsed FETCH command.
type fetchRequest struct {
	set          imapwire.SeqSet
	atts         []fetchAtt
	changedSince uint64
	vanished     bool // VANISHED modifier (RFC 7162 §3.2.6)
}

func isFetchWordChar(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '8'
}

// readFetch parses "FETCH seq-set SP (att-list | att | macro) [SP (modifiers)]".
func (s *session) readFetch() (*fetchRequest, bool) {
	d := s.dec
	req := &fetchRequest{}
	if !d.ExpectSP() || !d.ExpectSeqSet(&req.set) || !d.ExpectSP() {
		return nil, false
	}
	if b, ok := d.PeekByte(); ok && b == '(' {
		if !d.ExpectList(func() bool { return s.readFetchAtt(req) }) {
			return nil, false
		}
	} else {
		var w string
		if !d.Expect(d.Word(isFetchWordChar, &w), "fetch item") {
			return nil, false
		}
		switch strings.ToUpper(w) {
		case "ALL":
			req.atts = append(req.atts, fetchAtt{kind: fetchFlags}, fetchAtt{kind: fetchInternalDate}, fetchAtt{kind: fetchSize}, fetchAtt{kind: fetchEnvelope})
		case "FAST":
			req.atts = append(req.atts, fetchAtt{kind: fetchFlags}, fetchAtt{kind: fetchInternalDate}, fetchAtt{kind: fetchSize})
		case "FULL":
			req.atts = append(req.atts, fetchAtt{kind: fetchFlags}, fetchAtt{kind: fetchInternalDate}, fetchAtt{kind: fetchSize}, fetchAtt{kind: fetchEnvelope}, fetchAtt{kind: fetchBody})
		default:
			if !s.fetchAttNamed(req, w) {
				return nil, false
			}
		}
	}
	if d.SP() {
		// fetch-modifiers (RFC 7162 §3.1.4)
		if !d.ExpectList(func() bool {
			var m string
			if !d.Atom(&m) {
				return false
			}
			switch strings.ToUpper(m) {
			case "CHANGEDSINCE":
				return d.ExpectSP() && d.ExpectNumber64(&req.changedSince)
			case "VANISHED":
				req.vanished = true
				return true
			}
			d.Errorf("unknown fetch modifier %s", sanitize(m))
			return false
		}) {
			return nil, false
		}
	}
	return req, d.ExpectCRLF()
}

func (s *session) readFetchAtt(req *fetchRequest) bool {
	var w string
	if !s.dec.Word(isFetchWordChar, &w) {
		return false
	}
	return s.fetchAttNamed(req, w)
}

// fetchAttNamed finishes parsing an item whose name word was read.
func (s *session) fetchAttNamed(req *fetchRequest, w string) bool {
	d := s.dec
	w = strings.ToUpper(w)
	if k, ok := simpleFetchItems[w]; ok {
		req.atts = append(req.atts, fetchAtt{kind: k})
		return true
	}
	switch w {
	case "PREVIEW":
		if b, ok := d.PeekByte(); ok && b == ' ' {
			// PREVIEW (LAZY) modifiers (RFC 8970 §3.2) need a look ahead:
			// a following "(" belongs to PREVIEW only inside a list.
			if next, err := s.br.Peek(2); err == nil && next[1] == '(' {
				d.SP()
				if !d.ExpectList(func() bool {
					var m string
					return d.Atom(&m) && strings.EqualFold(m, "LAZY")
				}) {
					return false
				}
			}
		}
		req.atts = append(req.atts, fetchAtt{kind: fetchPreview})
		return true
	case "RFC822":
		req.atts = append(req.atts, fetchAtt{kind: fetchSection, name: "RFC822"})
		return true
	case "RFC822.HEADER":
		req.atts = append(req.atts, fetchAtt{kind: fetchSection, peek: true, name: "RFC822.HEADER", sec: section{spec: "HEADER"}})
		return true
	case "RFC822.TEXT":
		req.atts = append(req.atts, fetchAtt{kind: fetchSection, name: "RFC822.TEXT", sec: section{spec: "TEXT"}})
		return true
	case "BODY":
		if b, ok := d.PeekByte(); !ok || b != '[' {
			req.atts = append(req.atts, fetchAtt{kind: fetchBody})
			return true
		}
		return s.readSectionAtt(req, fetchAtt{kind: fetchSection}, "BODY")
	case "BODY.PEEK":
		return s.readSectionAtt(req, fetchAtt{kind: fetchSection, peek: true}, "BODY")
	case "BINARY":
		return s.readSectionAtt(req, fetchAtt{kind: fetchBinary}, "BINARY")
	case "BINARY.PEEK":
		return s.readSectionAtt(req, fetchAtt{kind: fetchBinary, peek: true}, "BINARY")
	case "BINARY.SIZE":
		return s.readSectionAtt(req, fetchAtt{kind: fetchBinarySize, peek: true}, "BINARY.SIZE")
	}
	d.Errorf("unknown fetch item %s", sanitize(w))
	return false
}

// simpleFetchItems are the items without arguments. Never modified.
var simpleFetchItems = map[string]fetchKind{
	"UID": fetchUID, "FLAGS": fetchFlags, "INTERNALDATE": fetchInternalDate,
	"RFC822.SIZE": fetchSize, "ENVELOPE": fetchEnvelope, "BODYSTRUCTURE": fetchBodyStructure,
	"MODSEQ": fetchModSeq, "SAVEDATE": fetchSaveDate, "EMAILID": fetchEmailID, "THREADID": fetchThreadID,
}

// validFieldName accepts RFC 5322 field names that are also IMAP atoms.
func validFieldName(f string) bool {
	if f == "" || len(f) > 200 {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`:()"{\]%*`, c) >= 0 {
			return false
		}
	}
	return true
}

// readSectionAtt reads "[" section "]" ["<" offset "." count ">"].
func (s *session) readSectionAtt(req *fetchRequest, att fetchAtt, prefix string) bool {
	d := s.dec
	if !d.ExpectSpecial('[') {
		return false
	}
	var spec string
	if b, ok := d.PeekByte(); ok && b != ']' {
		if !d.Expect(d.Word(isFetchWordChar, &spec), "section") {
			return false
		}
	}
	parts := strings.Split(spec, ".")
	if spec == "" {
		parts = nil
	}
	i := 0
	for ; i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			break
		}
		if n <= 0 || len(att.sec.path) >= 100 {
			d.Errorf("invalid section part number")
			return false
		}
		att.sec.path = append(att.sec.path, n)
	}
	att.sec.spec = strings.ToUpper(strings.Join(parts[i:], "."))
	switch att.sec.spec {
	case "":
	case "HEADER", "TEXT":
	case "MIME":
		if len(att.sec.path) == 0 {
			d.Errorf("MIME needs a part number")
			return false
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if !d.ExpectSP() || !d.ExpectList(func() bool {
			var f string
			if !d.AString(&f) {
				return false
			}
			if !validFieldName(f) {
				d.Errorf("invalid header field name")
				return false
			}
			att.sec.fields = append(att.sec.fields, f)
			return true
		}) {
			return false
		}
		if len(att.sec.fields) == 0 {
			d.Errorf("empty header field list")
			return false
		}
	default:
		d.Errorf("invalid section")
		return false
	}
	if att.kind != fetchSection && att.sec.spec != "" {
		d.Errorf("BINARY takes part numbers only")
		return false
	}
	if !d.ExpectSpecial(']') {
		return false
	}
	if d.Special('<') {
		var off, n uint32
		if !d.ExpectNumber(&off) || !d.ExpectSpecial('.') || !d.ExpectNumber(&n) || !d.ExpectSpecial('>') {
			return false
		}
		if n == 0 {
			d.Errorf("partial length must not be zero")
			return false
		}
		if att.kind == fetchBinarySize {
			d.Errorf("BINARY.SIZE takes no partial")
			return false
		}
		att.partial, att.offset, att.count = true, int64(off), int64(n)
	}
	att.name = prefix + "[" + sectionString(att.sec) + "]"
	req.atts = append(req.atts, att)
	return true
}

// sectionString spells a section for the response.
func sectionString(sec section) string {
	var sb strings.Builder
	for i, n := range sec.path {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(strconv.Itoa(n))
	}
	if sec.spec != "" {
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(sec.spec)
	}
	if len(sec.fields) > 0 {
		sb.WriteString(" (")
		for i, f := range sec.fields {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(strings.ToUpper(f))
		}
		sb.WriteByte(')')
	}
	return sb.String()
}
