package message

import (
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// buildHeaders makes the SEARCH/SORT index of a message header.
func buildHeaders(f *entityFields) Headers {
	h := Headers{
		From:      decodeWords(f.from.v),
		Sender:    decodeWords(f.sender.v),
		ReplyTo:   decodeWords(f.replyTo.v),
		To:        decodeWords(f.to.v),
		Cc:        decodeWords(f.cc.v),
		Bcc:       decodeWords(f.bcc.v),
		Subject:   decodeWords(f.subject.v),
		InReplyTo: toUTF8(f.inReplyTo.v),
	}
	if f.date.ok {
		h.Date, _ = ParseDate(f.date.v)
	}
	if ids := msgIDs(f.messageID.v); len(ids) > 0 {
		h.MessageID = ids[0]
	} else {
		h.MessageID = toUTF8(f.messageID.v)
	}
	h.References = msgIDs(f.references.v)
	return h
}

// maxReferences bounds the References kept in the index.
const maxReferences = 500

// msgIDs extracts the "<...>" message-ids of a field value in order. Bare
// ids without brackets (a common breakage) are taken when they contain '@'.
func msgIDs(v string) []string {
	var out []string
	v = toUTF8(v)
	for len(v) > 0 && len(out) < maxReferences {
		i := strings.IndexAny(v, "<")
		if i < 0 {
			for _, w := range strings.Fields(v) {
				if strings.Contains(w, "@") && !strings.ContainsAny(w, "<>") && len(out) < maxReferences {
					out = append(out, "<"+strings.Trim(w, ",;")+">")
				}
			}
			break
		}
		for _, w := range strings.Fields(v[:i]) {
			if strings.Contains(w, "@") && !strings.ContainsAny(w, "()") && len(out) < maxReferences {
				out = append(out, "<"+strings.Trim(w, ",;")+">")
			}
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		id := strings.Join(strings.Fields(v[i:i+j+1]), "")
		if len(id) > 2 {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
	return out
}

// ParseDate parses an RFC 5322 date-time leniently: obsolete forms (two-
// digit years, named zones), comments, missing weekday or seconds,
// missing zone (UTC), ISO 8601, and the odd orders broken mailers produce.
// ok is false when no date can be made out. The store calls it via Parse;
// exported for INTERNALDATE from imported mail.
func ParseDate(s string) (t time.Time, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	// Our own token parser first: net/mail turns named zones it does not
	// know into +0000 silently.
	if t, ok := parseDateTokens(s); ok {
		return t, true
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

var monthNames = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// zoneOffsets are the named zones of RFC 5322 §4.3 and a few common others,
// in minutes east of UTC.
var zoneOffsets = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0, "wet": 0,
	"edt": -4 * 60, "est": -5 * 60, "cdt": -5 * 60, "cst": -6 * 60,
	"mdt": -6 * 60, "mst": -7 * 60, "pdt": -7 * 60, "pst": -8 * 60,
	"cet": 60, "cest": 120, "met": 60, "mest": 120, "eet": 120, "eest": 180,
	"bst": 60, "ist": 330, "jst": 9 * 60, "kst": 9 * 60, "hkt": 8 * 60,
	"msk": 180, "aest": 600, "aedt": 660,
}

// parseDateTokens picks day, month, year, time and zone out of the tokens
// of s in whatever order they come.
func parseDateTokens(s string) (time.Time, bool) {
	// Drop comments.
	var sb strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			sb.WriteByte(c)
		}
	}
	fields := strings.FieldsFunc(sb.String(), func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n'
	})
	day, month, year := -1, -1, -1
	hour, minute, sec := 0, 0, 0
	haveTime := false
	zone := 0
	haveZone := false
	pm := false
	for _, f := range fields {
		lf := strings.ToLower(f)
		switch {
		case strings.Count(f, ":") >= 1 && !haveTime && f[0] != '+' && f[0] != '-':
			parts := strings.Split(f, ":")
			if len(parts) > 3 {
				continue
			}
			var nums [3]int
			good := true
			for i, p := range parts {
				p = strings.SplitN(p, ".", 2)[0]
				n, err := strconv.Atoi(p)
				if err != nil {
					good = false
					break
				}
				nums[i] = n
			}
			if good {
				hour, minute, sec, haveTime = nums[0], nums[1], nums[2], true
			}
		case (f[0] == '+' || f[0] == '-') && (len(f) == 5 || len(f) == 6 && f[3] == ':') && !haveZone:
			n, err := strconv.Atoi(strings.Replace(f[1:], ":", "", 1))
			if err != nil {
				continue
			}
			zone = (n/100)*60 + n%100
			if f[0] == '-' {
				zone = -zone
			}
			haveZone = true
		case len(lf) >= 3 && monthIndex(lf) >= 0 && month < 0:
			month = monthIndex(lf) + 1
		case isDigits(f):
			n, _ := strconv.Atoi(f)
			switch {
			case len(f) <= 2 && day < 0 && n >= 1 && n <= 31:
				day = n
			case year < 0 && (len(f) == 4 || len(f) == 2 || len(f) == 3):
				year = n
				if len(f) == 2 {
					// RFC 5322 §4.3: 00-49 are 2000-2049, 50-99 1950-1999.
					if n < 50 {
						year += 2000
					} else {
						year += 1900
					}
				} else if len(f) == 3 {
					year += 1900
				}
			}
		case lf == "pm" || lf == "p.m.":
			pm = true
		case lf == "am" || lf == "a.m.":
		default:
			if off, ok := zoneOffsets[lf]; ok && !haveZone {
				zone, haveZone = off, true
			}
		}
	}
	if day < 0 || month < 0 || year < 0 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	if pm && hour < 12 {
		hour += 12
	}
	if sec == 60 {
		sec = 59
	}
	loc := time.FixedZone("", zone*60)
	if zone == 0 {
		loc = time.UTC
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc)
	if t.Day() != day {
		return time.Time{}, false // e.g. 31 Feb
	}
	return t, true
}

func monthIndex(lf string) int {
	for i, m := range monthNames {
		if strings.HasPrefix(lf, m) {
			return i
		}
	}
	return -1
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
