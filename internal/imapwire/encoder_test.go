package imapwire

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"
)

func encode(utf8 bool, f func(e *Encoder)) string {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := NewEncoder(w)
	e.UTF8 = utf8
	f(e)
	e.Flush()
	return buf.String()
}

func TestEncoderPicksForm(t *testing.T) {
	cases := []struct {
		in   string
		utf8 bool
		want string
	}{
		{"abc", false, "abc"},
		{"", false, `""`},
		{"NIL", false, `"NIL"`},
		{"a b", false, `"a b"`},
		{`a"b`, false, `"a\"b"`},
		{"a\r\nb", false, "{4}\r\na\r\nb"},
		{"café", false, "{5}\r\ncafé"},
		{"café", true, `"café"`},
	}
	for _, c := range cases {
		if got := encode(c.utf8, func(e *Encoder) { e.AString(c.in) }); got != c.want {
			t.Errorf("AString(%q, utf8=%v) = %q, want %q", c.in, c.utf8, got, c.want)
		}
	}
	if got := encode(false, func(e *Encoder) { e.Mailbox("Entwürfe") }); got != "Entw&APw-rfe" {
		t.Errorf("mailbox %q", got)
	}
	got := encode(false, func(e *Encoder) {
		e.Atom("*").SP().Number(3).SP().Atom("FETCH").SP().List(2, func(i int) {
			if i == 0 {
				e.Atom("FLAGS").SP().Flags([]string{`\Seen`, "$Label"})
			} else {
				e.Atom("RFC822.SIZE").SP().Number64(1234)
			}
		}).CRLF()
	})
	if got != "* 3 FETCH (FLAGS (\\Seen $Label) RFC822.SIZE 1234)\r\n" {
		t.Errorf("fetch %q", got)
	}
	got = encode(false, func(e *Encoder) { e.LiteralFrom(strings.NewReader("xyz"), 3, true) })
	if got != "~{3}\r\nxyz" {
		t.Errorf("literal8 %q", got)
	}
}

// roundTrip encodes s and decodes it back as an astring.
func roundTrip(s string, utf8 bool) (string, bool) {
	out := encode(utf8, func(e *Encoder) { e.AString(s) })
	d := NewDecoder(bufio.NewReader(strings.NewReader(out+"\r\n")), Limits{})
	d.Continue = func() error { return nil }
	var got string
	ok := d.AString(&got)
	return got, ok
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "with space", `q"uo\te`, "line\r\nbreak", "ünï", "NIL", "]"} {
		for _, u := range []bool{false, true} {
			if got, ok := roundTrip(s, u); !ok || got != s {
				t.Errorf("round trip %q utf8=%v: %q %v", s, u, got, ok)
			}
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a", "a b", "\"\\", "\r\n", "日本", "NIL", "{3}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return
		}
		got, ok := roundTrip(s, false)
		if !ok || got != s {
			t.Fatalf("round trip %q: %q %v", s, got, ok)
		}
		enc := EncodeMUTF7(s)
		if dec, err := DecodeMUTF7(enc); err == nil && dec != s {
			t.Fatalf("mutf7 %q -> %q -> %q", s, enc, dec)
		}
	})
}

func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"a LOGIN user pass\r\n",
		"a1 FETCH 1:*,3 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
		"x APPEND INBOX (\\Seen) \" 1-Feb-2024 10:11:12 +0100\" {3+}\r\nabc\r\n",
		"t SEARCH CHARSET UTF-8 OR (FROM \"a\") NOT SEEN\r\n",
		"t UID STORE $ +FLAGS.SILENT (\\Deleted)\r\n",
		"t SELECT ~{2}\r\nab\r\n",
		"(((((((((((",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := NewDecoder(bufio.NewReader(strings.NewReader(s)), Limits{MaxLine: 4096, MaxStringLiteral: 4096})
		d.Continue = func() error { return nil }
		for i := 0; i < 10; i++ {
			d.Begin()
			var tag, name string
			var args []Value
			if !d.Command(&tag, &name, &args) {
				if !d.DiscardLine(8192) {
					return
				}
			}
			var ss SeqSet
			d.Begin()
			if d.SeqSet(&ss) {
				_ = ss.Resolve(100)
			}
		}
	})
}

func BenchmarkEncodeFetch(b *testing.B) {
	env := []byte(`("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) ((NIL NIL "imap" "cac.washington.example")) NIL NIL NIL "<B27397-0100000@Blurdybloop.example>")`)
	bs := []byte(`("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92 NIL NIL NIL NIL)`)
	date := time.Date(2024, 2, 1, 10, 11, 12, 0, time.UTC)
	w := bufio.NewWriter(discard{})
	e := NewEncoder(w)
	flags := []string{`\Seen`, `\Answered`, "$Forwarded"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Atom("*").SP().Number(uint32(i + 1)).SP().Atom("FETCH (UID ").Number(uint32(i + 1)).
			Atom(" FLAGS ").Flags(flags).Atom(" INTERNALDATE \"").Atom(FormatDateTime(date)).
			Atom("\" RFC822.SIZE ").Number64(3028).Atom(" ENVELOPE ").Raw(env).
			Atom(" BODYSTRUCTURE ").Raw(bs).Byte(')').CRLF()
	}
	e.Flush()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
