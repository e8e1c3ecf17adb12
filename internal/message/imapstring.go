package message

import "strconv"

// maxQuoted is the longest string rendered as an IMAP quoted string; longer
// ones become literals so that no client has to hold a huge quoted token.
const maxQuoted = 1024

// AppendIMAPString appends s to dst as an IMAP string (RFC 9051 §4.3): a
// quoted string, with `"` and `\` escaped, when s is at most 1024 octets of
// 7-bit characters other than NUL, CR and LF; otherwise a synchronizing
// literal "{n}\r\n" followed by the octets of s. It never writes NIL: see
// AppendIMAPNString. The IMAP layer may reuse it for any server-side
// string; it is safe for concurrent use.
func AppendIMAPString(dst []byte, s string) []byte {
	if !quotable(s) {
		dst = append(dst, '{')
		dst = strconv.AppendInt(dst, int64(len(s)), 10)
		dst = append(dst, "}\r\n"...)
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// AppendIMAPNString appends s as an IMAP nstring: NIL when s is empty,
// otherwise as AppendIMAPString does.
func AppendIMAPNString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "NIL"...)
	}
	return AppendIMAPString(dst, s)
}

// quotable reports whether s may be sent as a quoted string (RFC 9051
// QUOTED-CHAR: any 7-bit TEXT-CHAR; we do not use the UTF-8 form so that
// IMAP4rev1 clients read the same bytes).
func quotable(s string) bool {
	if len(s) > maxQuoted {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 || c == '\r' || c == '\n' || c >= 0x80 {
			return false
		}
	}
	return true
}
