package imapwire

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// mutf7 is the modified base64 alphabet of RFC 3501 §5.1.3 ("," for "/").
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// ErrBadMUTF7 is returned for a mailbox name that is not valid modified
// UTF-7.
var ErrBadMUTF7 = errors.New("invalid modified UTF-7 mailbox name")

// DecodeMUTF7 decodes a mailbox name in modified UTF-7 (RFC 3501 §5.1.3) to
// UTF-8. Printable ASCII stands for itself, "&-" is "&", and "&...-" is
// modified base64 of UTF-16BE.
func DecodeMUTF7(s string) (string, error) {
	if !strings.ContainsRune(s, '&') {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", ErrBadMUTF7
			}
		}
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrBadMUTF7
		}
		if c != '&' {
			sb.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", ErrBadMUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			sb.WriteByte('&')
			continue
		}
		raw, err := mutf7.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", ErrBadMUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		runes := utf16.Decode(units)
		for _, r := range runes {
			// Printable ASCII must not be base64-encoded, and broken
			// surrogates decode to U+FFFD.
			if (r >= 0x20 && r <= 0x7e) || r == utf8.RuneError {
				return "", ErrBadMUTF7
			}
			sb.WriteRune(r)
		}
	}
	return sb.String(), nil
}

// EncodeMUTF7 encodes a UTF-8 mailbox name in modified UTF-7.
func EncodeMUTF7(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '&' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var sb strings.Builder
	var pending []rune
	flush := func() {
		if len(pending) == 0 {
			return
		}
		units := utf16.Encode(pending)
		raw := make([]byte, 2*len(units))
		for k, u := range units {
			raw[2*k], raw[2*k+1] = byte(u>>8), byte(u)
		}
		sb.WriteByte('&')
		sb.WriteString(mutf7.EncodeToString(raw))
		sb.WriteByte('-')
		pending = pending[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			sb.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			sb.WriteRune(r)
		default:
			pending = append(pending, r)
		}
	}
	flush()
	return sb.String()
}
