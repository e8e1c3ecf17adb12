// Package imapwire reads and writes the IMAP wire syntax (RFC 9051 §9,
// RFC 3501 §9): a pull decoder for client commands whose methods are named
// after grammar elements, and a chaining encoder for server responses. It
// knows nothing about sessions or mailboxes and imports only the standard
// library.
//
// A Decoder or Encoder belongs to one connection and is not safe for
// concurrent use.
package imapwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits bound what one client command may hold (DESIGN.md §5).
type Limits struct {
	// MaxLine caps the octets of one command outside literals.
	MaxLine int
	// MaxStringLiteral caps the total octets of literals read into memory
	// (astring, string) by one command. APPEND message literals are
	// streamed and capped separately by the caller.
	MaxStringLiteral int64
	// MaxDepth caps parenthesized list nesting.
	MaxDepth int
	// MaxSeqRanges caps the ranges of one sequence set.
	MaxSeqRanges int
}

// defaultLimits fill zero fields of Limits; never modified.
var defaultLimits = Limits{
	MaxLine:          64 << 10,
	MaxStringLiteral: 1 << 20,
	MaxDepth:         32,
	MaxSeqRanges:     16384,
}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = defaultLimits.MaxLine
	}
	if l.MaxStringLiteral <= 0 {
		l.MaxStringLiteral = defaultLimits.MaxStringLiteral
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultLimits.MaxDepth
	}
	if l.MaxSeqRanges <= 0 {
		l.MaxSeqRanges = defaultLimits.MaxSeqRanges
	}
	return l
}

// SyntaxError is a command that does not parse; sessions answer BAD and
// skip the rest of the line.
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return "syntax error: " + e.Msg }

// LimitError is a command over one of the Limits. Sessions answer BAD (or
// NO [TOOBIG]) and skip the rest of the line; when Fatal is true the peer
// has already started sending data the session cannot skip safely (a
// non-synchronizing literal over the limit) and the connection must close.
type LimitError struct {
	Msg   string
	Fatal bool
	// LineEnded tells that the command line ended where the error was
	// found (a refused synchronizing literal): there is nothing to skip.
	LineEnded bool
}

func (e *LimitError) Error() string { return "limit exceeded: " + e.Msg }

// ErrLineTooLong is the Msg of the LimitError for a long line.
const msgLineTooLong = "command line too long"

// Decoder reads one client command at a time from a buffered reader. Its
// methods return false when the input does not match; Expect records a
// sticky error that Err returns. Once an error is recorded every method
// returns false.
type Decoder struct {
	r   *bufio.Reader
	lim Limits
	err error

	lineLen    int   // octets of the current command outside literals
	literalLen int64 // octets of in-memory literals of the current command
	depth      int

	// Continue is called before reading a synchronizing literal; the
	// session sends "+ Ready" and flushes. Nil means never allowed.
	Continue func() error
	// UTF8 accepts and produces UTF-8 mailbox names instead of modified
	// UTF-7 (IMAP4rev2, UTF8=ACCEPT).
	UTF8 bool
}

// NewDecoder returns a decoder reading from r.
func NewDecoder(r *bufio.Reader, lim Limits) *Decoder {
	return &Decoder{r: r, lim: lim.withDefaults()}
}

// Reset makes the decoder read from r and clears per-command state.
func (d *Decoder) Reset(r *bufio.Reader) {
	d.r = r
	d.Begin()
}

// Begin starts a new command: it clears the sticky error and counters.
func (d *Decoder) Begin() {
	d.err = nil
	d.lineLen = 0
	d.literalLen = 0
	d.depth = 0
}

// Err returns the first error recorded.
func (d *Decoder) Err() error { return d.err }

// SetErr records err unless an error is already recorded.
func (d *Decoder) SetErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Expect records a syntax error naming what was expected when ok is false.
func (d *Decoder) Expect(ok bool, what string) bool {
	if !ok {
		d.SetErr(&SyntaxError{Msg: "expected " + what})
	}
	return ok
}

// Errorf records a syntax error.
func (d *Decoder) Errorf(format string, args ...any) {
	d.SetErr(&SyntaxError{Msg: fmt.Sprintf(format, args...)})
}

func (d *Decoder) peek() (byte, bool) {
	if d.err != nil {
		return 0, false
	}
	b, err := d.r.Peek(1)
	if err != nil {
		d.SetErr(err)
		return 0, false
	}
	return b[0], true
}

// PeekByte returns the next octet without consuming it.
func (d *Decoder) PeekByte() (byte, bool) { return d.peek() }

func (d *Decoder) advance() {
	d.r.ReadByte()
	d.lineLen++
	if d.lineLen > d.lim.MaxLine {
		d.SetErr(&LimitError{Msg: msgLineTooLong})
	}
}

// Special consumes the octet b if it comes next.
func (d *Decoder) Special(b byte) bool {
	c, ok := d.peek()
	if !ok || c != b {
		return false
	}
	d.advance()
	return d.err == nil
}

// ExpectSpecial is Special recording an error when b is missing.
func (d *Decoder) ExpectSpecial(b byte) bool {
	return d.Expect(d.Special(b), strconv.QuoteRune(rune(b)))
}

// SP consumes one space.
func (d *Decoder) SP() bool { return d.Special(' ') }

// ExpectSP is SP recording an error.
func (d *Decoder) ExpectSP() bool { return d.Expect(d.SP(), "SP") }

// CRLF consumes the end of a line ("\r\n"; a bare "\n" is tolerated).
func (d *Decoder) CRLF() bool {
	d.Special('\r')
	return d.Special('\n')
}

// ExpectCRLF is CRLF recording an error ("extra arguments" when something
// else follows).
func (d *Decoder) ExpectCRLF() bool {
	if c, ok := d.peek(); ok && c != '\r' && c != '\n' {
		d.Errorf("unexpected extra arguments")
		return false
	}
	return d.Expect(d.CRLF(), "CRLF")
}

// DiscardLine skips the rest of the current command after an error,
// reading at most limit octets. A line that ends in a non-synchronizing
// literal header ("{n+}") continues after the literal's n octets, which
// the client sends without waiting; a synchronizing one ends the command,
// since the client waits for a "+" that does not come. It reports whether
// the end of the command was found within limit.
func (d *Decoder) DiscardLine(limit int) bool {
	var tail []byte // the current line's last octets, to spot "{n+}"
	for n := 0; n < limit; n++ {
		b, err := d.r.ReadByte()
		if err != nil {
			return false
		}
		if b != '\n' {
			if len(tail) == 32 {
				copy(tail, tail[1:])
				tail = tail[:31]
			}
			tail = append(tail, b)
			continue
		}
		size, ok := nonSyncLiteralAtEnd(tail)
		if !ok {
			return true
		}
		if int64(limit-n) < size {
			return false
		}
		if _, err := d.r.Discard(int(size)); err != nil {
			return false
		}
		n += int(size)
		tail = tail[:0]
	}
	return false
}

// nonSyncLiteralAtEnd parses "{n+}" (optionally followed by CR) at the end
// of line.
func nonSyncLiteralAtEnd(line []byte) (int64, bool) {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) < 4 || line[len(line)-1] != '}' || line[len(line)-2] != '+' {
		return 0, false
	}
	i := len(line) - 3
	var size int64
	mul := int64(1)
	for ; i >= 0 && line[i] >= '0' && line[i] <= '9'; i-- {
		size += int64(line[i]-'0') * mul
		mul *= 10
		if mul > 1e15 {
			return 0, false
		}
	}
	if i < 0 || line[i] != '{' || i == len(line)-3 {
		return 0, false
	}
	return size, true
}

// atom-specials of RFC 9051 §9: "(" ")" "{" SP CTL list-wildcards
// quoted-specials resp-specials.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x20 && c < 0x7f
}

// ASTRING-CHAR adds resp-specials ("]").
func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }

// list-char adds list-wildcards and resp-specials.
func isListChar(c byte) bool { return isAStringChar(c) || c == '%' || c == '*' }

// isTagChar is ASTRING-CHAR except "+".
func isTagChar(c byte) bool { return isAStringChar(c) && c != '+' }

// Word reads a run of octets accepted by ok; false when the run is empty.
func (d *Decoder) Word(ok func(byte) bool, out *string) bool {
	var sb strings.Builder
	for {
		c, more := d.peek()
		if !more || !ok(c) {
			break
		}
		sb.WriteByte(c)
		d.advance()
	}
	if sb.Len() == 0 || d.err != nil {
		return false
	}
	*out = sb.String()
	return true
}

// Atom reads an atom.
func (d *Decoder) Atom(out *string) bool { return d.Word(isAtomChar, out) }

// ExpectAtom is Atom recording an error.
func (d *Decoder) ExpectAtom(out *string) bool { return d.Expect(d.Atom(out), "atom") }

// Tag reads a command tag.
func (d *Decoder) Tag(out *string) bool { return d.Word(isTagChar, out) }

// Number reads a 32-bit unsigned number.
func (d *Decoder) Number(out *uint32) bool {
	var n uint64
	if !d.number(&n, 0xffffffff) {
		return false
	}
	*out = uint32(n)
	return true
}

// ExpectNumber is Number recording an error.
func (d *Decoder) ExpectNumber(out *uint32) bool { return d.Expect(d.Number(out), "number") }

// Number64 reads a 63-bit unsigned number (mod-sequence values).
func (d *Decoder) Number64(out *uint64) bool { return d.number(out, 1<<63-1) }

// ExpectNumber64 is Number64 recording an error.
func (d *Decoder) ExpectNumber64(out *uint64) bool { return d.Expect(d.Number64(out), "number") }

func (d *Decoder) number(out *uint64, max uint64) bool {
	var n uint64
	digits := 0
	for {
		c, ok := d.peek()
		if !ok || c < '0' || c > '9' {
			break
		}
		if n > (max-uint64(c-'0'))/10 {
			d.Errorf("number out of range")
			return false
		}
		n = n*10 + uint64(c-'0')
		digits++
		d.advance()
	}
	if digits == 0 || d.err != nil {
		return false
	}
	*out = n
	return true
}

// Quoted reads a quoted string with \" and \\ escapes. The result must be
// valid UTF-8 without CR, LF or NUL.
func (d *Decoder) Quoted(out *string) bool {
	if !d.Special('"') {
		return false
	}
	var sb strings.Builder
	for {
		c, ok := d.peek()
		if !ok {
			return false
		}
		if c == '\r' || c == '\n' || c == 0 {
			d.Errorf("unterminated quoted string")
			return false
		}
		d.advance()
		switch c {
		case '"':
			s := sb.String()
			if !utf8.ValidString(s) {
				d.Errorf("quoted string is not valid UTF-8")
				return false
			}
			*out = s
			return d.err == nil
		case '\\':
			e, ok := d.peek()
			if !ok {
				return false
			}
			if e != '"' && e != '\\' {
				d.Errorf("invalid escape in quoted string")
				return false
			}
			d.advance()
			sb.WriteByte(e)
		default:
			sb.WriteByte(c)
		}
	}
}

// Literal describes a literal's header: "{n}", "{n+}" or "~{n}".
type Literal struct {
	Size   int64
	Sync   bool // synchronizing: the client waits for "+"
	Binary bool // literal8 (RFC 3516)
}

// LiteralHeader reads a literal header through its CRLF. The octets are
// not read; call LiteralBody (or Discard via LiteralBody) next.
func (d *Decoder) LiteralHeader(out *Literal) bool {
	c, ok := d.peek()
	if !ok || (c != '{' && c != '~') {
		return false
	}
	var lit Literal
	if c == '~' {
		d.advance()
		lit.Binary = true
	}
	if !d.ExpectSpecial('{') {
		return false
	}
	var n uint64
	if !d.Expect(d.number(&n, 1<<62), "literal size") {
		return false
	}
	lit.Size = int64(n)
	lit.Sync = !d.Special('+')
	if !d.ExpectSpecial('}') || !d.Expect(d.CRLF(), "CRLF after literal size") {
		return false
	}
	*out = lit
	return true
}

// LiteralBody returns a reader of the literal's octets, first sending the
// continuation request for a synchronizing literal. The caller reads it to
// the end before calling any other method.
func (d *Decoder) LiteralBody(lit Literal) (io.Reader, bool) {
	if d.err != nil {
		return nil, false
	}
	if lit.Sync {
		if d.Continue == nil {
			d.Errorf("synchronizing literal not allowed here")
			return nil, false
		}
		if err := d.Continue(); err != nil {
			d.SetErr(err)
			return nil, false
		}
	}
	return &literalReader{d: d, n: lit.Size}, true
}

// literalReader reads a literal's octets and records I/O errors on the
// decoder.
type literalReader struct {
	d *Decoder
	n int64
}

func (l *literalReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.d.r.Read(p)
	l.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		l.d.SetErr(err)
	}
	return n, err
}

// LiteralString reads a literal into memory, within MaxStringLiteral for
// the command. Over the limit, a synchronizing literal is refused before
// the client sends it; a non-synchronizing one is fatal.
func (d *Decoder) LiteralString(out *[]byte) bool {
	var lit Literal
	if !d.LiteralHeader(&lit) {
		return false
	}
	if d.literalLen+lit.Size > d.lim.MaxStringLiteral {
		d.SetErr(&LimitError{Msg: "literal too large", Fatal: !lit.Sync, LineEnded: lit.Sync})
		return false
	}
	d.literalLen += lit.Size
	r, ok := d.LiteralBody(lit)
	if !ok {
		return false
	}
	buf := make([]byte, lit.Size)
	if _, err := io.ReadFull(r, buf); err != nil {
		d.SetErr(err)
		return false
	}
	*out = buf
	return true
}

// String reads a quoted string or a literal.
func (d *Decoder) String(out *string) bool {
	c, ok := d.peek()
	if !ok {
		return false
	}
	switch c {
	case '"':
		return d.Quoted(out)
	case '{', '~':
		var b []byte
		if !d.LiteralString(&b) {
			return false
		}
		*out = string(b)
		return true
	}
	return false
}

// ExpectString is String recording an error.
func (d *Decoder) ExpectString(out *string) bool { return d.Expect(d.String(out), "string") }

// AString reads an astring: an atom (with "]") or a string.
func (d *Decoder) AString(out *string) bool {
	if d.Word(isAStringChar, out) {
		return true
	}
	return d.String(out)
}

// ExpectAString is AString recording an error.
func (d *Decoder) ExpectAString(out *string) bool { return d.Expect(d.AString(out), "astring") }

// NString reads a string or NIL; isNil reports NIL.
func (d *Decoder) NString(out *string, isNil *bool) bool {
	var a string
	if c, ok := d.peek(); ok && (c == 'N' || c == 'n') {
		if d.Atom(&a) && strings.EqualFold(a, "NIL") {
			*isNil = true
			return true
		}
		d.Errorf("expected nstring")
		return false
	}
	*isNil = false
	return d.String(out)
}

// List reads a parenthesized, space-separated list, calling item for each
// element. An empty list "()" is accepted. Nesting is capped by MaxDepth.
func (d *Decoder) List(item func() bool) bool {
	if !d.Special('(') {
		return false
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > d.lim.MaxDepth {
		d.SetErr(&LimitError{Msg: "lists nested too deeply"})
		return false
	}
	if d.Special(')') {
		return true
	}
	for {
		if !item() {
			d.Expect(false, "list element")
			return false
		}
		if d.Special(')') {
			return true
		}
		if !d.ExpectSP() {
			return false
		}
	}
}

// ExpectList is List recording an error.
func (d *Decoder) ExpectList(item func() bool) bool { return d.Expect(d.List(item), "list") }

// Depth is the current list nesting depth (for recursive grammars that
// recurse outside List, such as SEARCH keys).
func (d *Decoder) Depth() int { return d.depth }

// Enter and Leave bound recursion outside List; Enter records a limit error
// past MaxDepth.
func (d *Decoder) Enter() bool {
	d.depth++
	if d.depth > d.lim.MaxDepth {
		d.SetErr(&LimitError{Msg: "nested too deeply"})
		return false
	}
	return true
}

// Leave undoes Enter.
func (d *Decoder) Leave() { d.depth-- }

// Flag reads a flag: "\" atom or a keyword atom. With star, "\*" is also
// accepted.
func (d *Decoder) Flag(out *string) bool {
	if d.Special('\\') {
		if d.Special('*') {
			*out = `\*`
			return true
		}
		var a string
		if !d.Expect(d.Atom(&a), "flag name") {
			return false
		}
		*out = `\` + a
		return true
	}
	return d.Atom(out)
}

// FlagList reads "(" [flag *(SP flag)] ")".
func (d *Decoder) FlagList(out *[]string) bool {
	var flags []string
	ok := d.List(func() bool {
		var f string
		if !d.Flag(&f) {
			return false
		}
		flags = append(flags, f)
		return true
	})
	if ok {
		*out = flags
	}
	return ok
}

// Mailbox reads a mailbox name (astring), decoding modified UTF-7 unless
// UTF8 is set, and normalizing any case of "INBOX" to "INBOX".
func (d *Decoder) Mailbox(out *string) bool {
	var raw string
	if !d.AString(&raw) {
		return false
	}
	name, err := d.decodeMailbox(raw)
	if err != nil {
		d.Errorf("%v", err)
		return false
	}
	*out = name
	return true
}

// ExpectMailbox is Mailbox recording an error.
func (d *Decoder) ExpectMailbox(out *string) bool { return d.Expect(d.Mailbox(out), "mailbox") }

func (d *Decoder) decodeMailbox(raw string) (string, error) {
	if strings.EqualFold(raw, "INBOX") {
		return "INBOX", nil
	}
	if !d.UTF8 {
		name, err := DecodeMUTF7(raw)
		if err != nil {
			return "", err
		}
		raw = name
	}
	if !utf8.ValidString(raw) {
		return "", errors.New("mailbox name is not valid UTF-8")
	}
	if len(raw) >= 6 && strings.EqualFold(raw[:6], "INBOX/") {
		raw = "INBOX" + raw[5:]
	}
	return raw, nil
}

// ListMailbox reads a LIST pattern (list-mailbox: list-chars or a string),
// decoded like Mailbox but without INBOX normalization beyond its case.
func (d *Decoder) ListMailbox(out *string) bool {
	var raw string
	if !d.Word(isListChar, &raw) && !d.String(&raw) {
		return false
	}
	name, err := d.decodeMailbox(raw)
	if err != nil {
		d.Errorf("%v", err)
		return false
	}
	*out = name
	return true
}

// SeqSet reads a sequence set (RFC 9051 §9 sequence-set), or "$" for the
// saved search result (RFC 5182).
func (d *Decoder) SeqSet(out *SeqSet) bool {
	if d.Special('$') {
		*out = SeqSet{SearchRes: true}
		return true
	}
	var s SeqSet
	for {
		var r SeqRange
		if !d.seqNumber(&r.Start) {
			if len(s.Ranges) == 0 {
				return false
			}
			d.Expect(false, "sequence number")
			return false
		}
		r.Stop = r.Start
		if d.Special(':') {
			if !d.Expect(d.seqNumber(&r.Stop), "sequence number") {
				return false
			}
		}
		if len(s.Ranges) >= d.lim.MaxSeqRanges {
			d.SetErr(&LimitError{Msg: "sequence set too large"})
			return false
		}
		s.Ranges = append(s.Ranges, r)
		if !d.Special(',') {
			break
		}
	}
	*out = s
	return d.err == nil
}

// ExpectSeqSet is SeqSet recording an error.
func (d *Decoder) ExpectSeqSet(out *SeqSet) bool { return d.Expect(d.SeqSet(out), "sequence set") }

func (d *Decoder) seqNumber(out *uint32) bool {
	if d.Special('*') {
		*out = 0
		return true
	}
	var n uint32
	if !d.Number(&n) {
		return false
	}
	if n == 0 {
		d.Errorf("sequence numbers start at 1")
		return false
	}
	*out = n
	return true
}
