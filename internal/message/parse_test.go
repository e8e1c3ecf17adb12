package message

import (
	"encoding/json"
	"strings"
	"testing"
)

// crlf turns the LF line ends of a test message into CRLF.
func crlf(s string) string {
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func mustParse(t testing.TB, raw string) *Parsed {
	t.Helper()
	p, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkInvariants(t, p, int64(len(raw)))
	return p
}

// checkInvariants asserts what every parse result must satisfy: offsets in
// bounds and ordered, children inside their parent, size equal to input.
func checkInvariants(t testing.TB, p *Parsed, size int64) {
	t.Helper()
	if p.Size != size {
		t.Fatalf("Size = %d, want %d", p.Size, size)
	}
	if p.Root == nil || p.Root.HeaderStart != 0 {
		t.Fatalf("root missing or HeaderStart != 0")
	}
	if p.Root.End != size {
		t.Fatalf("root End = %d, want %d", p.Root.End, size)
	}
	var walk func(part *Part, lo, hi int64, depth int)
	walk = func(part *Part, lo, hi int64, depth int) {
		if depth > MaxNesting+2 {
			t.Fatalf("tree deeper than the nesting cap")
		}
		if !(lo <= part.HeaderStart && part.HeaderStart <= part.BodyStart && part.BodyStart <= part.End && part.End <= hi) {
			t.Fatalf("bad offsets %d/%d/%d in [%d,%d] for %s/%s", part.HeaderStart, part.BodyStart, part.End, lo, hi, part.Type, part.Subtype)
		}
		if part.Type == "multipart" && len(part.Children) == 0 {
			t.Fatalf("multipart without children")
		}
		if part.IsMessage() && len(part.Children) != 1 {
			t.Fatalf("message part with %d children", len(part.Children))
		}
		prev := part.BodyStart
		for _, c := range part.Children {
			if c.HeaderStart < prev {
				t.Fatalf("children overlap: %d < %d", c.HeaderStart, prev)
			}
			walk(c, part.BodyStart, part.End, depth+1)
			prev = c.End
		}
	}
	walk(p.Root, 0, size, 0)
	for _, b := range [][]byte{p.EnvelopeIMAP, p.BodyIMAP, p.BodyStructureIMAP} {
		if len(b) < 2 || b[0] != '(' || b[len(b)-1] != ')' {
			t.Fatalf("rendering not a list: %q", b)
		}
		checkBalanced(t, b)
	}
	if _, err := json.Marshal(p.Root); err != nil {
		t.Fatalf("root does not marshal: %v", err)
	}
}

// checkBalanced verifies that an IMAP rendering has balanced parentheses
// outside quoted strings and literals, and well-formed literals.
func checkBalanced(t testing.TB, b []byte) {
	t.Helper()
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
				if i < len(b) && (b[i] == '\r' || b[i] == '\n' || b[i] >= 0x80) {
					t.Fatalf("bad byte in quoted string in %q", b)
				}
			}
		case '{':
			j := i + 1
			n := 0
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				n = n*10 + int(b[j]-'0')
				j++
			}
			if j+2 >= len(b)+1 || string(b[j:j+3]) != "}\r\n" {
				t.Fatalf("bad literal at %d in %q", i, b)
			}
			i = j + 2 + n
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				t.Fatalf("unbalanced %q", b)
			}
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced %q", b)
	}
}

func slice(raw string, from, to int64) string { return raw[from:to] }

// section returns the body octets of the part a section path names.
func section(t *testing.T, p *Parsed, raw string, path ...int) string {
	t.Helper()
	part := p.Root.Section(path)
	if part == nil {
		t.Fatalf("no section %v", path)
	}
	return slice(raw, part.BodyStart, part.End)
}

func TestParseSinglePart(t *testing.T) {
	raw := crlf("From: a@example.com\nSubject: hi\n\nHello\nWorld\n")
	p := mustParse(t, raw)
	r := p.Root
	if r.Type != "text" || r.Subtype != "plain" || r.Param("charset") != "us-ascii" || r.Encoding != "7BIT" {
		t.Errorf("defaults: %+v", r)
	}
	if r.BodyStart != int64(strings.Index(raw, "Hello")) || r.Lines != 2 {
		t.Errorf("BodyStart %d Lines %d", r.BodyStart, r.Lines)
	}
	if got := section(t, p, raw, 1); got != "Hello\r\nWorld\r\n" {
		t.Errorf("BODY[1] = %q", got)
	}
	want := `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 14 2 NIL NIL NIL NIL)`
	if string(p.BodyStructureIMAP) != want {
		t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", p.BodyStructureIMAP, want)
	}
	if want := `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 14 2)`; string(p.BodyIMAP) != want {
		t.Errorf("BODY\n got %s\nwant %s", p.BodyIMAP, want)
	}
	wantEnv := `(NIL "hi" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)`
	if string(p.EnvelopeIMAP) != wantEnv {
		t.Errorf("ENVELOPE\n got %s\nwant %s", p.EnvelopeIMAP, wantEnv)
	}
	if p.Preview != "Hello World" {
		t.Errorf("Preview %q", p.Preview)
	}
}

const mixedMsg = `From: "Joe Q. Public" <john.q.public@example.com>
To: Mary Smith <mary@x.test>, jdoe@example.org
Subject: report
Date: Tue, 1 Jul 2003 10:52:37 +0200
Message-ID: <1234@local.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a preamble.
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 ol=
=C3=A9
--inner
Content-Type: text/html; charset=utf-8

<html><head><title>x</title></head><body><p>Caf&eacute;</p></body></html>
--inner--
--outer
Content-Type: application/pdf; name="r.pdf"
Content-Disposition: attachment; filename="r.pdf"; size=3
Content-Transfer-Encoding: base64
Content-ID: <pdf@x>
Content-Description: The report
Content-Language: en, de
Content-Location: http://x.test/r.pdf
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

QUJD
--outer--
Epilogue.
`

func TestParseMixedAlternative(t *testing.T) {
	raw := crlf(mixedMsg)
	p := mustParse(t, raw)
	if got := section(t, p, raw, 1, 1); got != "Caf=C3=A9 ol=\r\n=C3=A9" {
		t.Errorf("BODY[1.1] = %q", got)
	}
	if got := section(t, p, raw, 1, 2); got != "<html><head><title>x</title></head><body><p>Caf&eacute;</p></body></html>" {
		t.Errorf("BODY[1.2] = %q", got)
	}
	if got := section(t, p, raw, 2); got != "QUJD" {
		t.Errorf("BODY[2] = %q", got)
	}
	// BODY[1] of a multipart child is the whole nested multipart body.
	if got := section(t, p, raw, 1); !strings.HasPrefix(got, "--inner\r\n") || !strings.HasSuffix(got, "--inner--") {
		t.Errorf("BODY[1] = %q", got)
	}
	pdf := p.Root.Section([]int{2})
	if got := slice(raw, pdf.HeaderStart, pdf.BodyStart); !strings.HasPrefix(got, "Content-Type: application/pdf") || !strings.HasSuffix(got, "==\r\n\r\n") {
		t.Errorf("BODY[2.MIME] = %q", got)
	}
	// Root TEXT is everything after the header, epilogue included.
	if got := slice(raw, p.Root.BodyStart, p.Root.End); !strings.HasPrefix(got, "This is a preamble.") || !strings.HasSuffix(got, "Epilogue.\r\n") {
		t.Errorf("TEXT = %q", got)
	}
	want := `((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 21 2 NIL NIL NIL NIL)` +
		`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 73 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL)` +
		`("APPLICATION" "PDF" ("NAME" "r.pdf") "<pdf@x>" "The report" "BASE64" 4 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("ATTACHMENT" ("FILENAME" "r.pdf" "SIZE" "3")) ("en" "de") "http://x.test/r.pdf")` +
		` "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)`
	if string(p.BodyStructureIMAP) != want {
		t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", p.BodyStructureIMAP, want)
	}
	wantBody := `((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 21 2)` +
		`("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 73 1) "ALTERNATIVE")` +
		`("APPLICATION" "PDF" ("NAME" "r.pdf") "<pdf@x>" "The report" "BASE64" 4) "MIXED")`
	if string(p.BodyIMAP) != wantBody {
		t.Errorf("BODY\n got %s\nwant %s", p.BodyIMAP, wantBody)
	}
	wantEnv := `("Tue, 1 Jul 2003 10:52:37 +0200" "report" (("Joe Q. Public" NIL "john.q.public" "example.com"))` +
		` (("Joe Q. Public" NIL "john.q.public" "example.com")) (("Joe Q. Public" NIL "john.q.public" "example.com"))` +
		` (("Mary Smith" NIL "mary" "x.test")(NIL NIL "jdoe" "example.org")) NIL NIL NIL "<1234@local.example>")`
	if string(p.EnvelopeIMAP) != wantEnv {
		t.Errorf("ENVELOPE\n got %s\nwant %s", p.EnvelopeIMAP, wantEnv)
	}
	if p.Preview != "Café olé" {
		t.Errorf("Preview %q", p.Preview)
	}
	if p.Headers.Subject != "report" || p.Headers.MessageID != "<1234@local.example>" || p.Headers.Date.Unix() != 1057049557 {
		t.Errorf("Headers %+v", p.Headers)
	}
}
