package message

import (
	"bytes"
	"strings"
)

// forEachField calls fn for every field of the header block hdr, in order.
// name is the field name with trailing white space removed (nil for a line
// that is not a field, e.g. one without a colon); value is what follows the
// colon, folds kept; raw is the whole field including its continuation
// lines and line ends. Scanning stops at the first empty line.
func forEachField(hdr []byte, fn func(name, value, raw []byte)) {
	i := 0
	for i < len(hdr) {
		lineEnd := nextLine(hdr, i)
		line := hdr[i:lineEnd]
		if isEmptyLine(line) {
			return
		}
		// Continuation lines start with WSP (RFC 5322 §2.2.3).
		end := lineEnd
		for end < len(hdr) && (hdr[end] == ' ' || hdr[end] == '\t') {
			end = nextLine(hdr, end)
		}
		raw := hdr[i:end]
		if c := bytes.IndexByte(line, ':'); c > 0 {
			name := bytes.TrimRight(line[:c], " \t")
			if len(name) > 0 && validFieldName(name) {
				fn(name, raw[c+1:], raw)
			} else {
				fn(nil, raw, raw)
			}
		} else {
			fn(nil, raw, raw)
		}
		i = end
	}
}

// nextLine returns the index just past the LF that ends the line starting
// at i, or len(b).
func nextLine(b []byte, i int) int {
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(b)
}

func isEmptyLine(line []byte) bool {
	return len(line) == 0 || string(line) == "\r\n" || string(line) == "\n"
}

// validFieldName accepts printable characters except colon and space (RFC
// 5322 ftext); 8-bit octets are tolerated.
func validFieldName(name []byte) bool {
	for _, c := range name {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// unfold removes the CR and LF octets of folded lines (RFC 5322 §2.2.3),
// keeping the white space that follows them, drops NUL octets and trims
// leading and trailing white space.
func unfold(v []byte) string {
	var sb strings.Builder
	sb.Grow(len(v))
	for _, c := range v {
		if c == '\r' || c == '\n' || c == 0 {
			continue
		}
		sb.WriteByte(c)
	}
	return strings.Trim(sb.String(), " \t")
}

// FilterHeader returns the fields of a header block whose names are in
// fields (not == false, BODY[HEADER.FIELDS (...)]) or not in fields (not ==
// true, HEADER.FIELDS.NOT), compared case-insensitively, each with its
// continuation lines, followed by the empty line that ends a header (RFC
// 9051 §6.4.5). header is the header as stored (the empty line may or may
// not be included). Lines that are not fields never match a name, so
// HEADER.FIELDS.NOT keeps them. The IMAP layer calls it; it is safe for
// concurrent use.
func FilterHeader(header []byte, fields []string, not bool) []byte {
	out := make([]byte, 0, 256)
	forEachField(header, func(name, _, raw []byte) {
		match := false
		if name != nil {
			for _, f := range fields {
				if strings.EqualFold(f, string(name)) {
					match = true
					break
				}
			}
		}
		if match == not {
			return
		}
		out = append(out, raw...)
		if raw[len(raw)-1] != '\n' {
			out = append(out, '\r', '\n')
		}
	})
	return append(out, '\r', '\n')
}

// hval is a header field value and whether the field was present.
type hval struct {
	v  string
	ok bool
}

func (h *hval) set(v []byte) {
	if !h.ok {
		h.v, h.ok = unfold(v), true
	}
}

// entityFields holds the first occurrence of each header field the parser
// uses: the MIME fields of RFC 2045/2183/3066/2557/1864 and, for a message
// header, the envelope and index fields of RFC 5322.
type entityFields struct {
	contentType, encoding, id, description, md5 hval
	disposition, language, location             hval

	date, subject, from, sender, replyTo, to, cc, bcc hval
	inReplyTo, messageID, references                  hval
}

// parseEntityFields extracts the fields the parser needs from hdr. All
// strings are copies, so hdr may be reused afterwards.
func parseEntityFields(hdr []byte) *entityFields {
	f := &entityFields{}
	forEachField(hdr, func(name, value, _ []byte) {
		if name == nil || len(name) > 32 {
			return
		}
		var lower [32]byte
		n := copy(lower[:], name)
		for i := 0; i < n; i++ {
			if c := lower[i]; c >= 'A' && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
		switch string(lower[:n]) {
		case "content-type":
			f.contentType.set(value)
		case "content-transfer-encoding":
			f.encoding.set(value)
		case "content-id":
			f.id.set(value)
		case "content-description":
			f.description.set(value)
		case "content-md5":
			f.md5.set(value)
		case "content-disposition":
			f.disposition.set(value)
		case "content-language":
			f.language.set(value)
		case "content-location":
			f.location.set(value)
		case "date":
			f.date.set(value)
		case "subject":
			f.subject.set(value)
		case "from":
			f.from.set(value)
		case "sender":
			f.sender.set(value)
		case "reply-to":
			f.replyTo.set(value)
		case "to":
			f.to.set(value)
		case "cc":
			f.cc.set(value)
		case "bcc":
			f.bcc.set(value)
		case "in-reply-to":
			f.inReplyTo.set(value)
		case "message-id":
			f.messageID.set(value)
		case "references":
			f.references.set(value)
		}
	})
	return f
}
