package message

import (
	"sort"
	"strconv"
	"strings"
)

// parseMIMEHeader parses a Content-Type or Content-Disposition value
// (RFC 2045 §5.1, RFC 2183 §2): a lower-case value ("text/plain",
// "attachment") and its parameters in header order, names lower case,
// with RFC 2231 continuations joined and extended values charset-decoded.
// It is lenient: comments are skipped, a value that is neither token nor
// quoted-string is taken up to the next ';', and junk is dropped.
func parseMIMEHeader(s string) (value string, params [][2]string) {
	p := mimeLexer{s: s}
	p.skipCFWS()
	start := p.i
	for p.i < len(s) && s[p.i] != ';' && s[p.i] != '(' {
		p.i++
	}
	value = asciiLower(strings.Join(strings.Fields(s[start:p.i]), ""))
	var raw [][2]string
	for p.i < len(s) {
		p.skipCFWS()
		if p.i >= len(s) {
			break
		}
		if s[p.i] == ';' {
			p.i++
			continue
		}
		name := p.token()
		p.skipCFWS()
		if name == "" || p.i >= len(s) || s[p.i] != '=' {
			// Junk: skip to the next parameter.
			for p.i < len(s) && s[p.i] != ';' {
				p.i++
			}
			continue
		}
		p.i++ // '='
		p.skipCFWS()
		var v string
		if p.i < len(s) && s[p.i] == '"' {
			v = p.quoted()
		} else {
			vs := p.i
			for p.i < len(s) && s[p.i] != ';' {
				p.i++
			}
			v = stripComments(s[vs:p.i])
		}
		raw = append(raw, [2]string{asciiLower(name), v})
	}
	return value, joinRFC2231(raw)
}

// mimeLexer scans the tokens of a MIME header value.
type mimeLexer struct {
	s string
	i int
}

func (p *mimeLexer) skipCFWS() {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			p.comment()
		default:
			return
		}
	}
}

// comment skips a (possibly nested) comment starting at '('.
func (p *mimeLexer) comment() {
	depth := 0
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			p.i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				p.i++
				return
			}
		}
		p.i++
	}
}

// token reads an RFC 2045 token (lenient: anything up to a tspecial or
// white space).
func (p *mimeLexer) token() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c <= ' ' || strings.IndexByte("()<>@,;:\\\"/[]?=", c) >= 0 {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at '"' and returns its content
// with quoted-pairs resolved. An unterminated string runs to the end.
func (p *mimeLexer) quoted() string {
	var v string
	v, p.i = readQuoted(p.s, p.i)
	return v
}

// readQuoted reads the quoted-string that starts at s[i] == '"' (RFC 5322
// §3.2.4), resolving quoted-pairs, and returns its content and the index
// just past the closing quote. An unterminated string runs to the end.
// Address and MIME parameter parsing share it.
func readQuoted(s string, i int) (string, int) {
	i++
	var sb strings.Builder
	for i < len(s) {
		c := s[i]
		if c == '"' {
			i++
			break
		}
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		}
		sb.WriteByte(c)
		i++
	}
	return sb.String(), i
}

// joinRFC2231 merges RFC 2231 parameter continuations ("name*0",
// "name*1*", ...) and decodes extended values ("name*=charset'lang'%xx").
// The merged parameter takes the place of its first piece. A plain "name"
// alongside an extended "name*" yields to the extended one.
func joinRFC2231(raw [][2]string) [][2]string {
	type piece struct {
		n        int
		ext      bool
		value    string
		position int
	}
	var out [][2]string
	pieces := map[string][]piece{}
	var order []string
	index := map[string]int{} // name -> position in out
	for _, kv := range raw {
		name, v := kv[0], kv[1]
		star := strings.IndexByte(name, '*')
		if star < 0 {
			if _, dup := index[name]; dup {
				continue // first occurrence wins
			}
			index[name] = len(out)
			out = append(out, [2]string{name, v})
			continue
		}
		base := name[:star]
		rest := name[star+1:]
		pc := piece{value: v}
		switch {
		case rest == "":
			pc.ext = true // name*=...
		default:
			ext := strings.HasSuffix(rest, "*")
			num, err := strconv.Atoi(strings.TrimSuffix(rest, "*"))
			if err != nil || num < 0 || num > 999 {
				continue
			}
			pc.n, pc.ext = num, ext
		}
		if _, seen := pieces[base]; !seen {
			order = append(order, base)
		}
		pieces[base] = append(pieces[base], pc)
	}
	for _, base := range order {
		ps := pieces[base]
		sort.SliceStable(ps, func(a, b int) bool { return ps[a].n < ps[b].n })
		var cs string
		var buf []byte
		for i, pc := range ps {
			if i > 0 && pc.n == ps[i-1].n {
				continue // duplicate section
			}
			v := pc.value
			if pc.ext {
				if i == 0 {
					// charset'language'value (RFC 2231 §4).
					if a := strings.IndexByte(v, '\''); a >= 0 {
						if b := strings.IndexByte(v[a+1:], '\''); b >= 0 {
							cs = v[:a]
							v = v[a+1+b+1:]
						}
					}
				}
				buf = append(buf, percentDecode(v)...)
			} else {
				buf = append(buf, v...)
			}
		}
		value := string(buf)
		if cs != "" {
			if dec, ok := decodeCharset(cs, buf); ok {
				value = dec
			}
		}
		if at, ok := index[base]; ok {
			out[at][1] = value
		} else {
			index[base] = len(out)
			out = append(out, [2]string{base, value})
		}
	}
	return out
}

func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, h<<4|l)
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// paramValue returns the value of the named (lower-case) parameter.
func paramValue(params [][2]string, name string) string {
	for _, kv := range params {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// stripComments removes RFC 822 comments from an unquoted parameter value
// and trims it; white space inside (a broken but common "name=a b.pdf")
// is kept.
func stripComments(v string) string {
	if strings.IndexByte(v, '(') < 0 {
		return strings.Trim(v, " \t\r\n")
	}
	var sb strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			sb.WriteByte(c)
		}
	}
	return strings.Trim(sb.String(), " \t\r\n")
}

// asciiLower lower-cases ASCII letters only, leaving other octets (even
// invalid UTF-8) untouched, unlike strings.ToLower.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// asciiUpper upper-cases ASCII letters only.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
