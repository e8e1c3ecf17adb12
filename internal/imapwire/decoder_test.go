package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func newDec(s string) *Decoder {
	return NewDecoder(bufio.NewReader(strings.NewReader(s)), Limits{})
}

func TestAtomAStringQuoted(t *testing.T) {
	d := newDec(`a1 "quo\"ted\\" ]x[ {3}` + "\r\nabc\r\n")
	var tag, q, a, l string
	if !d.Tag(&tag) || tag != "a1" || !d.SP() {
		t.Fatalf("tag %q %v", tag, d.Err())
	}
	if !d.AString(&q) || q != `quo"ted\` || !d.SP() {
		t.Fatalf("quoted %q %v", q, d.Err())
	}
	if !d.AString(&a) || a != "]x[" || !d.SP() {
		t.Fatalf("astring %q %v", a, d.Err())
	}
	d.Continue = func() error { return nil }
	if !d.AString(&l) || l != "abc" || !d.ExpectCRLF() {
		t.Fatalf("literal %q %v", l, d.Err())
	}
}

func TestSyncLiteralAsksToContinue(t *testing.T) {
	d := newDec("{5}\r\nhello")
	asked := 0
	d.Continue = func() error { asked++; return nil }
	var s string
	if !d.String(&s) || s != "hello" || asked != 1 {
		t.Fatalf("got %q asked=%d err=%v", s, asked, d.Err())
	}
	d = newDec("{5+}\r\nhello")
	d.Continue = func() error { asked++; return nil }
	if !d.String(&s) || s != "hello" || asked != 1 {
		t.Fatalf("literal+ got %q asked=%d err=%v", s, asked, d.Err())
	}
}

func TestLiteral8AndStreaming(t *testing.T) {
	d := newDec("~{4}\r\n\x00\x01\x02\x03 rest")
	var lit Literal
	if !d.LiteralHeader(&lit) || !lit.Binary || !lit.Sync || lit.Size != 4 {
		t.Fatalf("header %+v %v", lit, d.Err())
	}
	d.Continue = func() error { return nil }
	r, ok := d.LiteralBody(lit)
	if !ok {
		t.Fatal(d.Err())
	}
	b, _ := io.ReadAll(r)
	if !bytes.Equal(b, []byte{0, 1, 2, 3}) || !d.SP() {
		t.Fatalf("body %q", b)
	}
}

func TestLiteralLimits(t *testing.T) {
	d := NewDecoder(bufio.NewReader(strings.NewReader("{100}\r\n")), Limits{MaxStringLiteral: 10})
	d.Continue = func() error { t.Fatal("must not ask for an over-limit literal"); return nil }
	var s string
	d.String(&s)
	var le *LimitError
	if !errors.As(d.Err(), &le) || le.Fatal {
		t.Fatalf("sync over limit: %v", d.Err())
	}
	d = NewDecoder(bufio.NewReader(strings.NewReader("{100+}\r\n")), Limits{MaxStringLiteral: 10})
	d.String(&s)
	if !errors.As(d.Err(), &le) || !le.Fatal {
		t.Fatalf("non-sync over limit: %v", d.Err())
	}
	d = newDec("{5}\r\nabc")
	d.Continue = func() error { return nil }
	if d.String(&s) {
		t.Fatal("short literal accepted")
	}
}

func TestLineLimit(t *testing.T) {
	d := NewDecoder(bufio.NewReader(strings.NewReader(strings.Repeat("a", 200)+"\r\n")), Limits{MaxLine: 100})
	var a string
	d.Atom(&a)
	var le *LimitError
	if !errors.As(d.Err(), &le) {
		t.Fatalf("want limit error, got %v", d.Err())
	}
	if !d.DiscardLine(1000) {
		t.Fatal("discard did not find line end")
	}
}

func TestNestingCap(t *testing.T) {
	in := strings.Repeat("(", 100) + strings.Repeat(")", 100)
	d := newDec(in)
	var v Value
	d.Value(&v)
	var le *LimitError
	if !errors.As(d.Err(), &le) {
		t.Fatalf("want nesting limit, got %v", d.Err())
	}
	d = newDec("(a (b c) NIL \"d\")")
	if !d.Value(&v) || len(v.List) != 4 || len(v.List[1].List) != 2 || !v.List[2].IsNil || v.List[3].String != "d" {
		t.Fatalf("value %+v %v", v, d.Err())
	}
}

func TestSeqSet(t *testing.T) {
	d := newDec("1:3,7,*:5,10:* ")
	var s SeqSet
	if !d.SeqSet(&s) {
		t.Fatal(d.Err())
	}
	if s.String() != "1:3,7,*:5,10:*" {
		t.Fatalf("string %s", s)
	}
	r := s.Resolve(12)
	if len(r) != 2 || r[0] != (SeqRange{1, 3}) || r[1] != (SeqRange{5, 12}) {
		t.Fatalf("resolve %+v", r)
	}
	for n, want := range map[uint32]bool{1: true, 4: false, 5: true, 12: true, 13: false} {
		if RangesContain(r, n) != want {
			t.Errorf("contains %d != %v", n, want)
		}
	}
	d = newDec("$")
	if !d.SeqSet(&s) || !s.SearchRes {
		t.Fatal("$ not parsed")
	}
	d = newDec("0:4")
	if d.SeqSet(&s) || d.Err() == nil {
		t.Fatal("0 accepted")
	}
	d = NewDecoder(bufio.NewReader(strings.NewReader(strings.Repeat("1,", 50)+"1")), Limits{MaxSeqRanges: 10})
	d.SeqSet(&s)
	var le *LimitError
	if !errors.As(d.Err(), &le) {
		t.Fatalf("want seq limit, got %v", d.Err())
	}
	if got := FormatNumSet([]uint32{1, 2, 3, 5, 7, 8}); got != "1:3,5,7:8" {
		t.Fatalf("FormatNumSet %s", got)
	}
}

func TestDates(t *testing.T) {
	d := newDec(`" 1-Feb-2024 10:11:12 +0100" 3-Mar-2020 "17-Jul-1996 02:44:25 -0700"`)
	var a, b, c time.Time
	if !d.DateTime(&a) || !d.SP() || !d.Date(&b) || !d.SP() || !d.DateTime(&c) {
		t.Fatal(d.Err())
	}
	if a.Day() != 1 || a.Month() != 2 || b.Year() != 2020 || FormatDateTime(c) != "17-Jul-1996 02:44:25 -0700" {
		t.Fatalf("%v %v %v", a, b, c)
	}
	d = newDec(`"31-Foo-2020 00:00:00 +0000"`)
	if d.DateTime(&a) {
		t.Fatal("bad month accepted")
	}
}

func TestMailboxMUTF7(t *testing.T) {
	cases := map[string]string{
		"Entw&APw-rfe":                    "Entwürfe",
		"~peter/mail/&U,BTFw-/&ZeVnLIqe-": "~peter/mail/台北/日本語",
		"A&-B":                            "A&B",
	}
	for enc, dec := range cases {
		got, err := DecodeMUTF7(enc)
		if err != nil || got != dec {
			t.Errorf("decode %q = %q, %v", enc, got, err)
		}
		if EncodeMUTF7(dec) != enc {
			t.Errorf("encode %q = %q", dec, EncodeMUTF7(dec))
		}
	}
	for _, bad := range []string{"&Jjo", "&AGE-", "caf\xc3\xa9", "&Jjo!"} {
		if _, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("decode %q accepted", bad)
		}
	}
	d := newDec("inbox/Entw&APw-rfe ")
	var m string
	if !d.Mailbox(&m) || m != "INBOX/Entwürfe" {
		t.Fatalf("mailbox %q %v", m, d.Err())
	}
	d = newDec(`"Entwürfe"`)
	d.UTF8 = true
	if !d.Mailbox(&m) || m != "Entwürfe" {
		t.Fatalf("utf8 mailbox %q %v", m, d.Err())
	}
}

func TestQuotedRejectsGarbage(t *testing.T) {
	for _, in := range []string{"\"abc\r\n", "\"\xff\xfe\"", `"a\x"`} {
		d := newDec(in)
		var s string
		if d.Quoted(&s) {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestCommand(t *testing.T) {
	d := newDec("a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)])\r\n")
	var tag, name string
	var args []Value
	if !d.Command(&tag, &name, &args) || name != "FETCH" || len(args) != 2 {
		t.Fatalf("%q %q %+v %v", tag, name, args, d.Err())
	}
	d = newDec("a NOOP extra \r\n")
	if d.Command(&tag, &name, &args) {
		t.Fatal("trailing space accepted")
	}
}

func TestDiscardSkipsNonSyncLiterals(t *testing.T) {
	d := newDec("BAD x {5+}\r\nab\r\nc more {3}\r\nnext\r\n")
	if !d.DiscardLine(1000) {
		t.Fatal("no line end")
	}
	var a string
	if !d.Atom(&a) || a != "next" {
		t.Fatalf("after discard: %q %v", a, d.Err())
	}
	d = newDec("x {999999+}\r\nab")
	if d.DiscardLine(100) {
		t.Fatal("discard past the limit reported success")
	}
}
