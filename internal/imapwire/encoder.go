package imapwire

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Encoder writes server responses. Methods chain; the first write error is
// kept and returned by CRLF and Err. It never flushes by itself: the
// session flushes once per burst of pipelined commands.
type Encoder struct {
	w   *bufio.Writer
	err error
	// UTF8 allows UTF-8 in quoted strings and mailbox names (IMAP4rev2,
	// UTF8=ACCEPT); otherwise 8-bit strings go out as literals and
	// mailbox names in modified UTF-7.
	UTF8 bool
}

// NewEncoder returns an encoder writing to w.
func NewEncoder(w *bufio.Writer) *Encoder { return &Encoder{w: w} }

// Reset makes the encoder write to w.
func (e *Encoder) Reset(w *bufio.Writer) { e.w = w; e.err = nil }

// Err returns the first write error.
func (e *Encoder) Err() error { return e.err }

// Flush writes buffered responses to the connection.
func (e *Encoder) Flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// Buffered reports the octets waiting to be flushed.
func (e *Encoder) Buffered() int { return e.w.Buffered() }

// Raw writes b as is.
func (e *Encoder) Raw(b []byte) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return e
}

// RawString writes s as is (atoms, response codes the caller built).
func (e *Encoder) RawString(s string) *Encoder {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
	return e
}

// Atom writes an atom; the caller guarantees its syntax.
func (e *Encoder) Atom(s string) *Encoder { return e.RawString(s) }

// Byte writes one octet.
func (e *Encoder) Byte(b byte) *Encoder {
	if e.err == nil {
		e.err = e.w.WriteByte(b)
	}
	return e
}

// SP writes a space.
func (e *Encoder) SP() *Encoder { return e.Byte(' ') }

// Number writes an unsigned number.
func (e *Encoder) Number(n uint32) *Encoder { return e.Number64(uint64(n)) }

// Number64 writes an unsigned 64-bit number.
func (e *Encoder) Number64(n uint64) *Encoder {
	if e.err == nil {
		// Formatted in the writer's free space: no allocation.
		_, e.err = e.w.Write(strconv.AppendUint(e.w.AvailableBuffer(), n, 10))
	}
	return e
}

// CRLF ends a response line and returns the first error.
func (e *Encoder) CRLF() error {
	e.RawString("\r\n")
	return e.err
}

// stringKind says how a string can be written.
type stringKind int

const (
	kindAtom stringKind = iota
	kindQuoted
	kindLiteral
)

func (e *Encoder) classify(s string, atomOK bool) stringKind {
	if s == "" {
		return kindQuoted
	}
	kind := kindAtom
	if !atomOK || len(s) > 1000 {
		kind = kindQuoted
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r' || c == '\n' || c == 0:
			return kindLiteral
		case c >= 0x80:
			if !e.UTF8 || !utf8.ValidString(s) {
				return kindLiteral
			}
			kind = kindQuoted
		case kind == kindAtom && !isAStringChar(c):
			kind = kindQuoted
		}
	}
	if len(s) > 4096 {
		return kindLiteral
	}
	if kind == kindAtom && strings.EqualFold(s, "NIL") {
		kind = kindQuoted
	}
	return kind
}

// Quoted writes s as a quoted string with escapes; the caller checks s fits.
func (e *Encoder) quoted(s string) *Encoder {
	e.Byte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			e.Byte('\\')
		}
		e.Byte(s[i])
	}
	return e.Byte('"')
}

// String writes s as a quoted string or, when needed, a literal.
func (e *Encoder) String(s string) *Encoder {
	if e.classify(s, false) == kindLiteral {
		return e.Literal([]byte(s))
	}
	return e.quoted(s)
}

// AString writes s as an atom when it can, else like String.
func (e *Encoder) AString(s string) *Encoder {
	switch e.classify(s, true) {
	case kindAtom:
		return e.RawString(s)
	case kindQuoted:
		return e.quoted(s)
	}
	return e.Literal([]byte(s))
}

// NString writes NIL for a nil pointer, else String.
func (e *Encoder) NString(s *string) *Encoder {
	if s == nil {
		return e.RawString("NIL")
	}
	return e.String(*s)
}

// Literal writes b as a literal "{n}\r\n" + b.
func (e *Encoder) Literal(b []byte) *Encoder {
	e.Byte('{').Number64(uint64(len(b))).RawString("}\r\n")
	return e.Raw(b)
}

// LiteralFrom writes a literal of size octets read from r (streamed).
// With binary, it is a literal8 "~{n}" (RFC 3516).
func (e *Encoder) LiteralFrom(r io.Reader, size int64, binary bool) *Encoder {
	if binary {
		e.Byte('~')
	}
	e.Byte('{').Number64(uint64(size)).RawString("}\r\n")
	if e.err == nil {
		var n int64
		n, e.err = io.CopyN(e.w, r, size)
		if e.err == io.EOF && n < size {
			e.err = io.ErrUnexpectedEOF
		}
	}
	return e
}

// Mailbox writes a mailbox name, in modified UTF-7 unless UTF8 is set.
func (e *Encoder) Mailbox(name string) *Encoder {
	if !e.UTF8 {
		name = EncodeMUTF7(name)
	}
	return e.AString(name)
}

// Flags writes a parenthesized flag list.
func (e *Encoder) Flags(flags []string) *Encoder {
	e.Byte('(')
	for i, f := range flags {
		if i > 0 {
			e.SP()
		}
		e.RawString(f)
	}
	return e.Byte(')')
}

// List writes n parenthesized, space-separated items.
func (e *Encoder) List(n int, item func(i int)) *Encoder {
	e.Byte('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			e.SP()
		}
		item(i)
	}
	return e.Byte(')')
}
