package message

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendEnvelope renders the ENVELOPE of a message header (RFC 9051
// §7.5.2): date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
// message-id. Values are sent raw (encoded-words undecoded, folds removed);
// an absent field is NIL, a present but empty one "". Sender and Reply-To
// default to From when absent or empty.
func appendEnvelope(dst []byte, f *entityFields) []byte {
	dst = append(dst, '(')
	dst = appendHval(dst, f.date)
	dst = append(dst, ' ')
	dst = appendHval(dst, f.subject)
	from := parseAddressList(f.from.v)
	sender := parseAddressList(f.sender.v)
	if len(sender) == 0 {
		sender = from
	}
	replyTo := parseAddressList(f.replyTo.v)
	if len(replyTo) == 0 {
		replyTo = from
	}
	for _, list := range [][]address{from, sender, replyTo,
		parseAddressList(f.to.v), parseAddressList(f.cc.v), parseAddressList(f.bcc.v)} {
		dst = append(dst, ' ')
		dst = appendAddressList(dst, list)
	}
	dst = append(dst, ' ')
	dst = appendHval(dst, f.inReplyTo)
	dst = append(dst, ' ')
	dst = appendHval(dst, f.messageID)
	return append(dst, ')')
}

func appendHval(dst []byte, h hval) []byte {
	if !h.ok {
		return append(dst, "NIL"...)
	}
	return AppendIMAPString(dst, h.v)
}

// appendAddressList renders an address list, NIL when empty.
func appendAddressList(dst []byte, list []address) []byte {
	if len(list) == 0 {
		return append(dst, "NIL"...)
	}
	dst = append(dst, '(')
	for _, a := range list {
		dst = append(dst, '(')
		switch a.kind {
		case addrGroupStart:
			dst = append(dst, "NIL NIL "...)
			dst = AppendIMAPString(dst, a.mailbox)
			dst = append(dst, " NIL"...)
		case addrGroupEnd:
			dst = append(dst, "NIL NIL NIL NIL"...)
		default:
			dst = AppendIMAPNString(dst, a.name)
			dst = append(dst, ' ')
			dst = AppendIMAPNString(dst, a.adl)
			dst = append(dst, ' ')
			dst = AppendIMAPString(dst, a.mailbox)
			dst = append(dst, ' ')
			dst = AppendIMAPString(dst, a.host)
		}
		dst = append(dst, ')')
	}
	return append(dst, ')')
}

// appendBody renders p as BODY (ext false) or BODYSTRUCTURE (ext true),
// RFC 9051 §7.5.2 and the "body" grammar of §9. Types, subtypes, encodings,
// parameter names and disposition types are upper case, as in the RFC's
// examples; parameter values are as written.
func appendBody(dst []byte, p *Part, ext bool) []byte {
	dst = append(dst, '(')
	if p.IsMultipart() {
		for _, c := range p.Children {
			dst = appendBody(dst, c, ext)
		}
		dst = append(dst, ' ')
		dst = AppendIMAPString(dst, asciiUpper(p.Subtype))
		if ext {
			dst = append(dst, ' ')
			dst = appendParams(dst, p.Params)
			dst = appendExt(dst, p)
		}
		return append(dst, ')')
	}
	typ, sub := p.Type, p.Subtype
	if typ == "multipart" || (p.IsMessage() && len(p.Children) != 1) {
		// Only possible for a Part not made by Parse; keep the grammar.
		typ, sub = "application", "octet-stream"
	}
	dst = AppendIMAPString(dst, asciiUpper(typ))
	dst = append(dst, ' ')
	dst = AppendIMAPString(dst, asciiUpper(sub))
	dst = append(dst, ' ')
	dst = appendParams(dst, p.Params)
	dst = append(dst, ' ')
	dst = AppendIMAPNString(dst, p.ID)
	dst = append(dst, ' ')
	dst = AppendIMAPNString(dst, p.Description)
	dst = append(dst, ' ')
	enc := p.Encoding
	if enc == "" {
		enc = "7BIT"
	}
	dst = AppendIMAPString(dst, enc)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, p.End-p.BodyStart, 10)
	switch {
	case typ == "message" && (sub == "rfc822" || sub == "global"):
		dst = append(dst, ' ')
		if len(p.EnvelopeIMAP) > 0 {
			dst = append(dst, p.EnvelopeIMAP...)
		} else {
			dst = append(dst, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"...)
		}
		dst = append(dst, ' ')
		dst = appendBody(dst, p.Children[0], ext)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Lines, 10)
	case typ == "text":
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, p.Lines, 10)
	}
	if ext {
		dst = append(dst, ' ')
		dst = AppendIMAPNString(dst, p.MD5)
		dst = appendExt(dst, p)
	}
	return append(dst, ')')
}

// appendExt renders " disposition language location", shared by both
// kinds of body extension data.
func appendExt(dst []byte, p *Part) []byte {
	dst = append(dst, ' ')
	if p.Disposition == "" {
		dst = append(dst, "NIL"...)
	} else {
		dst = append(dst, '(')
		dst = AppendIMAPString(dst, asciiUpper(p.Disposition))
		dst = append(dst, ' ')
		dst = appendParams(dst, p.DispositionParams)
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	if len(p.Language) == 0 {
		dst = append(dst, "NIL"...)
	} else {
		dst = append(dst, '(')
		for i, l := range p.Language {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = AppendIMAPString(dst, l)
		}
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	return AppendIMAPNString(dst, p.Location)
}

// appendParams renders a body-fld-param list, NIL when empty. A value that
// is not plain ASCII (typically one decoded from RFC 2231) is sent
// re-encoded as an RFC 2231 extended parameter ("NAME*" "utf-8”%E2%82%AC")
// so that IMAP4rev1 clients get 7-bit text they know how to decode.
func appendParams(dst []byte, params [][2]string) []byte {
	if len(params) == 0 {
		return append(dst, "NIL"...)
	}
	dst = append(dst, '(')
	for i, kv := range params {
		if i > 0 {
			dst = append(dst, ' ')
		}
		name, value := asciiUpper(kv[0]), kv[1]
		if !isASCII(value) && utf8.ValidString(value) && !strings.HasSuffix(name, "*") {
			name += "*"
			value = "utf-8''" + percentEncode(value)
		}
		dst = AppendIMAPString(dst, name)
		dst = append(dst, ' ')
		dst = AppendIMAPString(dst, value)
	}
	return append(dst, ')')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// percentEncode encodes s as an RFC 2231 extended value.
func percentEncode(s string) string {
	const hexdig = "0123456789ABCDEF"
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && strings.IndexByte("*'%()<>@,;:\\\"/[]?=", c) < 0 {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexdig[c>>4])
		sb.WriteByte(hexdig[c&15])
	}
	return sb.String()
}
