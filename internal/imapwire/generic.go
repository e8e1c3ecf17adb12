package imapwire

import "strings"

// Value is a generic parsed argument (tests, fuzzing, and commands whose
// arguments are only passed through, such as ID).
type Value struct {
	Atom   string
	String string
	IsStr  bool
	IsNil  bool
	List   []Value
	IsList bool
}

// Value reads one generic argument: a list, a string, NIL or an atom-like
// word (which may carry "[", "]", "\" and "*" as in fetch items and flags).
func (d *Decoder) Value(out *Value) bool {
	c, ok := d.peek()
	if !ok {
		return false
	}
	switch c {
	case '(':
		var v Value
		v.IsList = true
		if !d.List(func() bool {
			var item Value
			if !d.Value(&item) {
				return false
			}
			v.List = append(v.List, item)
			return true
		}) {
			return false
		}
		*out = v
		return true
	case '"', '{', '~':
		var s string
		if !d.String(&s) {
			return false
		}
		*out = Value{String: s, IsStr: true}
		return true
	}
	var w string
	if !d.Word(func(b byte) bool { return isListChar(b) || b == '\\' || b == '[' }, &w) {
		return false
	}
	if strings.Count(w, "[") > strings.Count(w, "]") {
		// A fetch section such as BODY[HEADER.FIELDS (From To)] runs to
		// its closing bracket, spaces and parentheses included.
		var rest strings.Builder
		for {
			c, ok := d.peek()
			if !ok || c == '\r' || c == '\n' {
				d.Expect(false, "]")
				return false
			}
			rest.WriteByte(c)
			d.advance()
			if c == ']' {
				break
			}
		}
		var tail string
		d.Word(func(b byte) bool { return isListChar(b) && b != ')' }, &tail)
		w += rest.String() + tail
	}
	if strings.EqualFold(w, "NIL") {
		*out = Value{IsNil: true}
		return true
	}
	*out = Value{Atom: w}
	return true
}

// Command reads a generic command: tag SP name *(SP value) CRLF.
func (d *Decoder) Command(tag, name *string, args *[]Value) bool {
	if !d.Expect(d.Tag(tag), "tag") || !d.ExpectSP() || !d.ExpectAtom(name) {
		return false
	}
	var vs []Value
	for d.SP() {
		var v Value
		if !d.Expect(d.Value(&v), "argument") {
			return false
		}
		vs = append(vs, v)
	}
	if !d.ExpectCRLF() {
		return false
	}
	*args = vs
	return true
}
