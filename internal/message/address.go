package message

import "strings"

// address is one member of an IMAP address list (RFC 9051 §7.5.2,
// "addr-name addr-adl addr-mailbox addr-host"). A group is rendered as a
// start marker (groupStart: mailbox holds the group name, host NIL), its
// members, and an end marker (groupEnd: mailbox and host NIL).
type address struct {
	name, adl, mailbox, host string
	kind                     addrKind
}

type addrKind uint8

const (
	addrMailbox addrKind = iota
	addrGroupStart
	addrGroupEnd
)

// maxAddresses bounds the members of one address list, so a hostile
// header cannot make the ENVELOPE arbitrarily large in memory.
const maxAddresses = 1000

// parseAddressList parses an RFC 5322 address-list leniently, keeping the
// raw (undecoded) text of display names, as ENVELOPE wants.
func parseAddressList(s string) []address {
	p := addrParser{s: s}
	var out []address
	for p.i < len(p.s) && len(out) < maxAddresses {
		before := p.i
		p.skipCFWS()
		if p.i >= len(p.s) {
			break
		}
		switch p.s[p.i] {
		case ',', ';', '>', ')':
			p.i++
			continue
		}
		out = p.item(out, false)
		if p.i == before {
			p.i++ // always make progress on junk
		}
	}
	return fillMissing(out)
}

// fillMissing gives addresses without a mailbox or host the placeholders
// other servers use, since many clients cannot tell NIL from "" and would
// take a host-less address for a group marker (RFC 9051 §7.5.2), and drops
// addresses that hold nothing at all ("<>").
func fillMissing(list []address) []address {
	out := list[:0]
	for _, a := range list {
		if a.kind == addrMailbox {
			if a.name == "" && a.mailbox == "" && a.host == "" {
				continue
			}
			if a.mailbox == "" {
				a.mailbox = "MISSING_MAILBOX"
			}
			if a.host == "" {
				a.host = "MISSING_DOMAIN"
			}
		}
		out = append(out, a)
	}
	return out
}

type addrParser struct {
	s       string
	i       int
	comment string // text of the last comment skipped
}

// word is a piece of a phrase or local-part.
type word struct {
	text    string // quoted strings unquoted
	raw     string // as written
	spaced  bool   // white space or a comment came before it
	quoted  bool
	isDot   bool
	literal bool
}

// item parses one mailbox or group and appends it to out.
func (p *addrParser) item(out []address, inGroup bool) []address {
	p.comment = ""
	words := p.words()
	if p.i >= len(p.s) {
		return appendBare(out, words, p.comment)
	}
	switch p.s[p.i] {
	case ':':
		p.i++
		if inGroup {
			return out // nested groups are not allowed; ignore the name
		}
		out = append(out, address{mailbox: phraseText(words), kind: addrGroupStart})
		for p.i < len(p.s) && len(out) < maxAddresses {
			before := p.i
			p.skipCFWS()
			if p.i >= len(p.s) {
				break
			}
			c := p.s[p.i]
			if c == ';' {
				p.i++
				break
			}
			if c == ',' || c == '>' || c == ')' || c == ':' {
				p.i++
				continue
			}
			out = p.item(out, true)
			if p.i == before {
				p.i++
			}
		}
		return append(out, address{kind: addrGroupEnd})
	case '<':
		p.i++
		name := phraseText(words)
		a := p.angleAddr()
		a.name = name
		if a.name == "" && p.comment != "" {
			a.name = p.comment
		}
		return append(out, a)
	case '@':
		p.i++
		a := address{mailbox: localText(words)}
		a.host = p.domain()
		p.skipCFWS()
		if p.comment != "" {
			a.name = p.comment
		}
		return append(out, a)
	}
	return appendBare(out, words, p.comment)
}

// appendBare handles an address without '@' ("undisclosed", a bare
// name): the text becomes the mailbox; fillMissing supplies the host.
func appendBare(out []address, words []word, comment string) []address {
	if len(words) == 0 {
		return out
	}
	return append(out, address{mailbox: localText(words), name: comment})
}

// angleAddr parses what follows '<' up to and including '>': an optional
// obsolete route ("@a,@b:") and an addr-spec.
func (p *addrParser) angleAddr() address {
	var a address
	p.skipCFWS()
	if p.i < len(p.s) && p.s[p.i] == '@' {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ':' && p.s[p.i] != '>' {
			p.i++
		}
		if p.i < len(p.s) && p.s[p.i] == ':' {
			a.adl = strings.Join(strings.Fields(p.s[start:p.i]), "")
			p.i++
		} else {
			p.i = start + 1
		}
	}
	words := p.words()
	a.mailbox = localText(words)
	if p.i < len(p.s) && p.s[p.i] == '@' {
		p.i++
		a.host = p.domain()
	}
	// Skip to the closing '>' (junk inside is dropped).
	for p.i < len(p.s) && p.s[p.i] != '>' && p.s[p.i] != ',' {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] == '>' {
		p.i++
	}
	return a
}

// domain reads a domain: dot-atoms or a domain literal, white space dropped.
func (p *addrParser) domain() string {
	var sb strings.Builder
	for p.i < len(p.s) {
		before := p.i
		p.skipCFWS()
		if p.i >= len(p.s) {
			break
		}
		c := p.s[p.i]
		if p.i > before && sb.Len() > 0 && c != '.' && !strings.HasSuffix(sb.String(), ".") {
			break // "a@b c@d": a missing comma, not one domain
		}
		if c == '[' {
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ']' {
				p.i++
			}
			if p.i < len(p.s) {
				p.i++
			}
			sb.WriteString(p.s[start:p.i])
			continue
		}
		if isAtext(c) || c == '.' {
			start := p.i
			for p.i < len(p.s) && (isAtext(p.s[p.i]) || p.s[p.i] == '.') {
				p.i++
			}
			sb.WriteString(p.s[start:p.i])
			continue
		}
		break
	}
	return sb.String()
}

// words reads atoms, dots and quoted strings up to a special character.
func (p *addrParser) words() []word {
	var ws []word
	for p.i < len(p.s) {
		before := p.i
		p.skipCFWS()
		spaced := p.i > before
		if p.i >= len(p.s) {
			break
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			start := p.i
			text := p.quoted()
			ws = append(ws, word{text: text, raw: p.s[start:p.i], spaced: spaced, quoted: true})
		case c == '.':
			p.i++
			ws = append(ws, word{text: ".", raw: ".", spaced: spaced, isDot: true})
		case isAtext(c):
			start := p.i
			for p.i < len(p.s) && isAtext(p.s[p.i]) {
				p.i++
			}
			t := p.s[start:p.i]
			ws = append(ws, word{text: t, raw: t, spaced: spaced})
		default:
			return ws
		}
	}
	return ws
}

// phraseText renders a display name: words separated by single spaces
// where the source had white space, quoted strings unquoted, encoded-words
// left as they are.
func phraseText(ws []word) string {
	var sb strings.Builder
	for i, w := range ws {
		if i > 0 && w.spaced {
			sb.WriteByte(' ')
		}
		sb.WriteString(w.text)
	}
	return strings.TrimSpace(sb.String())
}

// localText renders a local-part as written, quotes kept, white space
// dropped.
func localText(ws []word) string {
	var sb strings.Builder
	for _, w := range ws {
		sb.WriteString(w.raw)
	}
	return sb.String()
}

func (p *addrParser) skipCFWS() {
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.i++
		case c == '(':
			start := p.i
			depth := 0
		loop:
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
						break loop
					}
				}
				p.i++
			}
			if p.i > len(p.s) {
				p.i = len(p.s)
			}
			inner := p.s[start:p.i]
			inner = strings.TrimPrefix(inner, "(")
			inner = strings.TrimSuffix(inner, ")")
			p.comment = strings.TrimSpace(inner)
		default:
			return
		}
	}
}

func (p *addrParser) quoted() string {
	var v string
	v, p.i = readQuoted(p.s, p.i)
	return v
}

// isAtext reports RFC 5322 atext, plus 8-bit octets (RFC 6532) and the
// odd characters broken mailers put in names.
func isAtext(c byte) bool {
	if c >= 0x80 {
		return true
	}
	if c <= ' ' || c == 0x7f {
		return false
	}
	return strings.IndexByte("()<>[]:;@\\,.\"", c) < 0
}
