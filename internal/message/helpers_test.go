package message

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestFilterHeader(t *testing.T) {
	hdr := []byte("From: a@b.test\r\nSubject: one\r\n two\r\nX-Thing: x\r\nsubject: dup\r\nTo: c@d.test\r\n\r\n")
	tests := []struct {
		fields []string
		not    bool
		want   string
	}{
		{[]string{"SUBJECT"}, false, "Subject: one\r\n two\r\nsubject: dup\r\n\r\n"},
		{[]string{"from", "to"}, false, "From: a@b.test\r\nTo: c@d.test\r\n\r\n"},
		{[]string{"Subject", "x-thing"}, true, "From: a@b.test\r\nTo: c@d.test\r\n\r\n"},
		{[]string{"nothing"}, false, "\r\n"},
		{nil, true, string(hdr)},
	}
	for _, tt := range tests {
		if got := string(FilterHeader(hdr, tt.fields, tt.not)); got != tt.want {
			t.Errorf("FilterHeader(%v, %v) = %q, want %q", tt.fields, tt.not, got, tt.want)
		}
	}
	// A header without its blank line, last field without a line end.
	if got := string(FilterHeader([]byte("A: 1\r\nB: 2"), []string{"b"}, false)); got != "B: 2\r\n\r\n" {
		t.Errorf("unterminated: %q", got)
	}
	// Bare LF and a non-field line.
	if got := string(FilterHeader([]byte("junk line\nA: 1\n"), []string{"a"}, true)); got != "junk line\n\r\n" {
		t.Errorf("non-field: %q", got)
	}
}

func TestSectionSinglePart(t *testing.T) {
	raw := crlf("Content-Type: message/rfc822\n\nSubject: in\n\ninner body\n")
	p := mustParse(t, raw)
	if p.Root.Section(nil) != p.Root || p.Root.Section([]int{1}) != p.Root {
		t.Errorf("BODY[] / BODY[1] of a single-part message")
	}
	inner := p.Root.Section([]int{1, 1})
	if inner == nil || raw[inner.BodyStart:inner.End] != "inner body\r\n" {
		t.Errorf("BODY[1.1] = %+v", inner)
	}
	if p.Root.Section([]int{2}) != nil || p.Root.Section([]int{1, 1, 1, 1}) != nil {
		t.Errorf("invalid sections resolved")
	}
	// A text leaf has no sub-parts beyond 1 at message level.
	q := mustParse(t, crlf("\nx\n"))
	if q.Root.Section([]int{1, 1}) != nil {
		t.Errorf("BODY[1.1] of text resolved")
	}
}

func TestCRLFReader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"\n\n", "\r\n\r\n"},
		{"a\rb", "a\rb"},
		{"end\r", "end\r"},
		{"\r\r\n\n", "\r\r\n\r\n"},
		{"mixed\r\nand\nbare", "mixed\r\nand\r\nbare"},
	}
	for _, tt := range tests {
		for name, r := range map[string]io.Reader{
			"plain":   NewCRLFReader(strings.NewReader(tt.in)),
			"onebyte": NewCRLFReader(iotest.OneByteReader(strings.NewReader(tt.in))),
		} {
			got, err := io.ReadAll(r)
			if err != nil || string(got) != tt.want {
				t.Errorf("%s %q: got %q, %v; want %q", name, tt.in, got, err, tt.want)
			}
		}
		// Tiny destination buffers.
		r := NewCRLFReader(strings.NewReader(tt.in))
		var out []byte
		buf := make([]byte, 1)
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if string(out) != tt.want {
			t.Errorf("1-byte reads %q: got %q", tt.in, out)
		}
	}
	// Errors pass through.
	boom := errors.New("boom")
	if _, err := io.ReadAll(NewCRLFReader(iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Errorf("error %v", err)
	}
	// A large input crossing buffer boundaries.
	big := strings.Repeat("0123456789abcdef\n", 10000)
	got, _ := io.ReadAll(NewCRLFReader(strings.NewReader(big)))
	if string(got) != strings.ReplaceAll(big, "\n", "\r\n") {
		t.Errorf("large input mangled")
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\nbody"), iotest.ErrReader(boom))
	if _, err := Parse(r); !errors.Is(err, boom) {
		t.Errorf("Parse error = %v", err)
	}
}

func TestTransferDecoder(t *testing.T) {
	tests := []struct{ enc, in, want string }{
		{"base64", "SGVs\r\nbG8g\r\nd29y bGQ=\r\n", "Hello world"},
		{"BASE64", "SGVsbG8*!gd29ybGQ", "Hello world"},
		{"quoted-printable", "caf=C3=A9 =\r\nsoft=3d\r\nline  \r\nbad=ZZ =", "café soft=\r\nline\r\nbad=ZZ "},
		{"Quoted-Printable", "a=\nb\x00c", "ab\x00c"},
		{"7bit", "as is=41", "as is=41"},
		{"x-uuencode", "as is", "as is"},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(NewTransferDecoder(tt.enc, strings.NewReader(tt.in)))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s %q: got %q, %v; want %q", tt.enc, tt.in, got, err, tt.want)
		}
	}
	if KnownTransferEncoding("x-uuencode") || !KnownTransferEncoding("Base64") {
		t.Errorf("KnownTransferEncoding")
	}
	// A QP line longer than the reader's buffer.
	long := strings.Repeat("=41", 3000) // crosses the 4 KiB buffer mid-escape
	got, _ := io.ReadAll(NewTransferDecoder("quoted-printable", strings.NewReader(long)))
	if string(got) != strings.Repeat("A", 3000) {
		t.Errorf("long QP line decoded to %d octets", len(got))
	}
}

func TestDecodeText(t *testing.T) {
	raw := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 cr=E8me\n--b\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n8NLJ18XU\n--b--\n")
	p := mustParse(t, raw)
	ra := strings.NewReader(raw)
	got, err := DecodeText(p.Root.Section([]int{1}), ra, 1000)
	if err != nil || got != "Café crème" {
		t.Errorf("part 1: %q, %v", got, err)
	}
	got, err = DecodeText(p.Root.Section([]int{2}), ra, 1000)
	if err != nil || got != "Привет" {
		t.Errorf("part 2: %q, %v", got, err)
	}
	got, _ = DecodeText(p.Root.Section([]int{1}), ra, 4)
	if got != "Caf" && got != "Caf\uFFFD" {
		t.Errorf("limited: %q", got)
	}
	if got, err := DecodeText(p.Root.Section([]int{1}), &failingReaderAt{}, 100); err == nil {
		t.Errorf("read error swallowed: %q", got)
	}
}

type failingReaderAt struct{}

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

func TestAppendIMAPString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a "quoted" \ b`, `"a \"quoted\" \\ b"`},
		{"line\r\nbreak", "{11}\r\nline\r\nbreak"},
		{"caf\xc3\xa9", "{5}\r\ncaf\xc3\xa9"},
		{"nul\x00", "{4}\r\nnul\x00"},
		{strings.Repeat("a", 1025), "{1025}\r\n" + strings.Repeat("a", 1025)},
	}
	for _, tt := range tests {
		if got := string(AppendIMAPString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendIMAPString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := string(AppendIMAPNString([]byte("x "), "")); got != "x NIL" {
		t.Errorf("nstring: %q", got)
	}
}

func TestPreview(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"html only", crlf("Content-Type: text/html; charset=utf-8\n\n<html><head><style>p{}</style><title>T</title></head><body><p>Hello&nbsp;<b>there</b></p><!-- c --><script>x()</script>&amp; bye</body></html>\n"),
			"Hello there & bye"},
		{"plain preferred over html", crlf("Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b\nContent-Type: text/plain\n\nplain\n--b--\n"), "plain"},
		{"attachment skipped", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Disposition: attachment\n\nattached\n--b\nContent-Type: text/plain\n\nshown\n--b--\n"), "shown"},
		{"folded and cut", crlf("\n" + strings.Repeat("word \n\t ", 100)), strings.TrimSpace(strings.Repeat("word ", 40))},
		{"base64 windows-1251", crlf("Content-Type: text/plain; charset=windows-1251\nContent-Transfer-Encoding: base64\n\nz/Do4uXy\n"), "Привет"},
		{"no text", crlf("Content-Type: image/png\n\nxx\n"), ""},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.raw)
		if p.Preview != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, p.Preview, tt.want)
		}
		if n := len([]rune(p.Preview)); n > 200 {
			t.Errorf("%s: preview has %d characters", tt.name, n)
		}
	}
	cjk := crlf("Content-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("日本語", 100) + "\n")
	if n := len([]rune(mustParse(t, cjk).Preview)); n != 200 {
		t.Errorf("CJK preview has %d characters", n)
	}
}

func TestLines(t *testing.T) {
	tests := []struct {
		raw   string
		lines int64
	}{
		{"\r\n", 0},
		{"\r\nno newline", 1},
		{"\r\none\r\n", 1},
		{"\r\none\r\ntwo", 2},
		{"\r\n\r\n\r\n", 2},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n\r\n--b--", 1},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.raw)
		leaf := p.Root
		if leaf.IsMultipart() {
			leaf = leaf.Children[0]
		}
		if leaf.Lines != tt.lines {
			t.Errorf("%q: %d lines, want %d", tt.raw, leaf.Lines, tt.lines)
		}
	}
}
