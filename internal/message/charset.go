package message

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// isUTF8Compatible reports whether text in charset cs needs no conversion.
func isUTF8Compatible(cs string) bool {
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "x-unknown", "unknown-8bit":
		return true
	}
	return false
}

// charsetReader returns a reader converting r from charset cs to UTF-8, and
// false when the charset is unknown (r is then returned as is).
func charsetReader(cs string, r io.Reader) (io.Reader, bool) {
	if isUTF8Compatible(cs) {
		return r, true
	}
	cr, err := charset.Reader(strings.ToLower(strings.TrimSpace(cs)), r)
	if err != nil || cr == nil {
		return r, false
	}
	return cr, true
}

// decodeCharset converts b from charset cs to UTF-8. ok is false when the
// charset is unknown.
func decodeCharset(cs string, b []byte) (string, bool) {
	r, ok := charsetReader(cs, bytes.NewReader(b))
	if !ok {
		return string(b), false
	}
	out, _ := io.ReadAll(r) // decoders only fail on I/O, and there is none here
	return string(out), true
}

// toUTF8 returns s unchanged when it is valid UTF-8, and otherwise reads it
// as windows-1252, the usual charset of raw 8-bit header text.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	// Keep valid UTF-8 sequences; read each stray octet as windows-1252.
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(charmap.Windows1252.DecodeByte(s[i]))
		} else {
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

// decodeWords decodes the RFC 2047 encoded-words of a header value to
// UTF-8. Words in unknown charsets or with bad encodings are kept raw;
// white space between two adjacent encoded-words is dropped (RFC 2047 §6.2).
// Raw 8-bit text outside encoded-words is repaired with toUTF8.
func decodeWords(s string) string {
	s = toUTF8(s)
	if !strings.Contains(s, "=?") {
		return s
	}
	dec := mime.WordDecoder{CharsetReader: func(cs string, input io.Reader) (io.Reader, error) {
		r, ok := charsetReader(cs, input)
		if !ok {
			return nil, errUnknownCharset
		}
		return r, nil
	}}
	var sb strings.Builder
	lastWasWord := false
	for len(s) > 0 {
		start := strings.Index(s, "=?")
		if start < 0 {
			sb.WriteString(s)
			break
		}
		// An encoded-word is =?charset?enc?text?= with no white space.
		end := encodedWordEnd(s, start)
		if end < 0 {
			sb.WriteString(s[:start+2])
			lastWasWord = false
			s = s[start+2:]
			continue
		}
		between, word := s[:start], s[start:end]
		s = s[end:]
		decoded, err := dec.Decode(word)
		if err != nil {
			sb.WriteString(between)
			sb.WriteString(word)
			lastWasWord = false
			continue
		}
		if !lastWasWord || strings.Trim(between, " \t\r\n") != "" {
			sb.WriteString(between)
		}
		sb.WriteString(strings.ToValidUTF8(decoded, "\uFFFD"))
		lastWasWord = true
	}
	return sb.String()
}

// encodedWordEnd returns the index just past the encoded-word starting at
// start, or -1.
func encodedWordEnd(s string, start int) int {
	i := start + 2
	q := 0
	for i < len(s) {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			return -1
		}
		if c == '?' {
			q++
			if q == 3 {
				if i+1 < len(s) && s[i+1] == '=' {
					return i + 2
				}
				return -1
			}
		}
		i++
	}
	return -1
}

type constError string

func (e constError) Error() string { return string(e) }

const errUnknownCharset = constError("message: unknown charset")
