package message

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestMalformed(t *testing.T) {
	longValue := strings.Repeat("x", 100*1024)
	tests := []struct {
		name  string
		raw   string
		check func(t *testing.T, p *Parsed, raw string)
	}{
		{"missing final boundary", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if len(p.Root.Children) != 2 {
					t.Fatalf("%d children", len(p.Root.Children))
				}
				if got := section(t, p, raw, 2); got != "two\r\n" {
					t.Errorf("BODY[2] = %q", got)
				}
			}},
		{"boundary never appears", crlf("Content-Type: multipart/mixed; boundary=nothere\n\nsome text\n--other\nmore\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if len(p.Root.Children) != 1 || p.Root.Children[0].Type != "text" {
					t.Fatalf("children %+v", p.Root.Children)
				}
				if got := section(t, p, raw, 1); got != "some text\r\n--other\r\nmore\r\n" {
					t.Errorf("BODY[1] = %q", got)
				}
				if !bytes.Contains(p.BodyStructureIMAP, []byte(`"MIXED"`)) {
					t.Errorf("BODYSTRUCTURE %s", p.BodyStructureIMAP)
				}
			}},
		{"multipart without boundary parameter", crlf("Content-Type: multipart/mixed\n\nhello\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if got := section(t, p, raw, 1); got != "hello\r\n" {
					t.Errorf("BODY[1] = %q", got)
				}
			}},
		{"inner multipart missing close, outer continues", crlf("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\nA\n--o\n\nB\n--o--\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if got := section(t, p, raw, 1, 1); got != "A" {
					t.Errorf("BODY[1.1] = %q", got)
				}
				if got := section(t, p, raw, 2); got != "B" {
					t.Errorf("BODY[2] = %q", got)
				}
			}},
		{"junk after boundary", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b junk\n\none\n--b--junk\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if got := section(t, p, raw, 1); got != "one" {
					t.Errorf("BODY[1] = %q", got)
				}
			}},
		{"raw 8-bit headers", "From: J\xf6rg <j@x.test>\r\nSubject: caf\xc3\xa9 \xe9\r\nTo: \xff\xfe@\xfe\r\n\r\nbody\r\n",
			func(t *testing.T, p *Parsed, raw string) {
				if p.Headers.Subject != "café é" {
					t.Errorf("Subject %q", p.Headers.Subject)
				}
				if !bytes.Contains(p.EnvelopeIMAP, []byte("{7}\r\ncaf\xc3\xa9 \xe9")) {
					t.Errorf("ENVELOPE %q", p.EnvelopeIMAP)
				}
			}},
		{"100 KB header line", crlf("Subject: " + longValue + "\nX-Long: a\n b\n\nbody\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if len(p.Headers.Subject) != len(longValue) {
					t.Errorf("Subject length %d", len(p.Headers.Subject))
				}
				if got := section(t, p, raw, 1); got != "body\r\n" {
					t.Errorf("BODY[1] = %q", got)
				}
				if !bytes.Contains(p.EnvelopeIMAP, []byte(fmt.Sprintf("{%d}\r\n", len(longValue)))) {
					t.Errorf("long subject not a literal")
				}
			}},
		{"100 KB body line in multipart", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n" + longValue + "\n--b\n\nz\n--b--\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if got := section(t, p, raw, 1); got != longValue {
					t.Errorf("BODY[1] has %d octets", len(got))
				}
				if got := section(t, p, raw, 2); got != "z" {
					t.Errorf("BODY[2] = %q", got)
				}
			}},
		{"missing headers", crlf("just a body line\nand another\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if p.Root.Type != "text" || p.EnvelopeIMAP == nil {
					t.Errorf("root %+v", p.Root)
				}
				if want := "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"; string(p.EnvelopeIMAP) != want {
					t.Errorf("ENVELOPE %s", p.EnvelopeIMAP)
				}
			}},
		{"empty message", "",
			func(t *testing.T, p *Parsed, raw string) {
				if p.Size != 0 || p.Root.End != 0 {
					t.Errorf("size %d", p.Size)
				}
			}},
		{"header only, no blank line", "Subject: x",
			func(t *testing.T, p *Parsed, raw string) {
				if p.Headers.Subject != "x" || p.Root.BodyStart != int64(len(raw)) {
					t.Errorf("%+v %+v", p.Headers, p.Root)
				}
			}},
		{"NUL bytes", "Subject: a\x00b\r\nFrom: x\x00y@z\r\n\r\nbo\x00dy\r\n",
			func(t *testing.T, p *Parsed, raw string) {
				if bytes.IndexByte(p.EnvelopeIMAP, 0) >= 0 {
					t.Errorf("NUL in ENVELOPE %q", p.EnvelopeIMAP)
				}
				if got := section(t, p, raw, 1); got != "bo\x00dy\r\n" {
					t.Errorf("BODY[1] = %q", got)
				}
				if p.Preview != "body" {
					t.Errorf("Preview %q", p.Preview)
				}
			}},
		{"bare LF line ends", "Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n",
			func(t *testing.T, p *Parsed, raw string) {
				if got := section(t, p, raw, 1); got != "one" {
					t.Errorf("BODY[1] = %q", got)
				}
				if p.Headers.Subject != "lf" {
					t.Errorf("Subject %q", p.Headers.Subject)
				}
			}},
		{"unknown charset", crlf("Content-Type: text/plain; charset=x-klingon\n\nqapla'\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if p.Preview != "qapla'" {
					t.Errorf("Preview %q", p.Preview)
				}
			}},
		{"invalid content type", crlf("Content-Type: garbage\n\nx\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if p.Root.Type != "text" || p.Root.Subtype != "plain" || p.Root.Param("charset") != "us-ascii" {
					t.Errorf("root %+v", p.Root)
				}
			}},
		{"base64 message/rfc822 is opaque", crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQo=\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if p.Root.Type != "application" || len(p.Root.Children) != 0 {
					t.Errorf("root %+v", p.Root)
				}
			}},
		{"empty parts", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\n--b\nContent-Type: text/plain\n--b--\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if len(p.Root.Children) != 3 {
					t.Fatalf("%d children", len(p.Root.Children))
				}
				for i, c := range p.Root.Children {
					if c.End != c.BodyStart {
						t.Errorf("child %d not empty: %q", i+1, raw[c.BodyStart:c.End])
					}
				}
			}},
		{"rfc822 at end of input", crlf("Content-Type: message/rfc822\n\n"),
			func(t *testing.T, p *Parsed, raw string) {
				if !p.Root.IsMessage() || p.Root.Children[0].End != int64(len(raw)) {
					t.Errorf("root %+v", p.Root)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.raw)
			tt.check(t, p, tt.raw)
		})
	}
}

// nested builds a message with depth levels of multipart nesting,
// alternating with message/rfc822, and a text leaf at the bottom.
func nested(depth int) string {
	var sb strings.Builder
	var closers []string
	for i := 0; i < depth; i++ {
		if i%2 == 0 {
			b := fmt.Sprintf("=_%03d_=", i) // no boundary is a prefix of another
			fmt.Fprintf(&sb, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n--%s\r\n", b, b)
			closers = append(closers, "\r\n--"+b+"--\r\n")
		} else {
			sb.WriteString("Content-Type: message/rfc822\r\n\r\nSubject: level\r\n")
			closers = append(closers, "")
		}
	}
	sb.WriteString("Content-Type: text/plain\r\n\r\nbottom")
	for i := len(closers) - 1; i >= 0; i-- {
		sb.WriteString(closers[i])
	}
	return sb.String()
}

func TestNesting(t *testing.T) {
	raw := nested(50)
	p := mustParse(t, raw)
	part := p.Root
	depth := 0
	for len(part.Children) > 0 {
		part = part.Children[0]
		depth++
	}
	if depth != 50 || part.Type != "text" || raw[part.BodyStart:part.End] != "bottom" {
		t.Errorf("leaf at depth %d: %s/%s %q", depth, part.Type, part.Subtype, raw[part.BodyStart:part.End])
	}
	if p.Preview != "bottom" {
		t.Errorf("Preview %q", p.Preview)
	}
	// The section path through 50 levels: 1 for each multipart and each
	// message/rfc822 step resolves to the same leaf.
	path := make([]int, 0, 50)
	for i := 0; i < 25; i++ {
		path = append(path, 1)
	}
	path = append(path, 1)
	if got := p.Root.Section(path); got != part {
		t.Errorf("Section(%v) = %+v", path, got)
	}

	deep := nested(300)
	p = mustParse(t, deep)
	part = p.Root
	depth = 0
	for len(part.Children) > 0 {
		part = part.Children[0]
		depth++
	}
	if depth != MaxNesting || part.Type != "application" {
		t.Errorf("cap: leaf at depth %d is %s/%s", depth, part.Type, part.Subtype)
	}
}

func TestManyParts(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := 0; i < maxParts+50; i++ {
		sb.WriteString("--b\r\n\r\nx\r\n")
	}
	sb.WriteString("--b--\r\n")
	p := mustParse(t, sb.String())
	if n := len(p.Root.Children); n != maxParts-1 {
		t.Errorf("%d children, want %d", n, maxParts-1)
	}
}
