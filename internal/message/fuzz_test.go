package message

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// fuzzSeeds are real-shaped messages and the malformed cases of the unit
// tests.
func fuzzSeeds() []string {
	return []string{
		crlf(mixedMsg),
		crlf(rfc822Msg),
		crlf("From: a@example.com\nSubject: hi\n\nHello\n"),
		crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: x\n\nbody\n--d--\n"),
		crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\n--b\nContent-Type: text/plain\n--b--\n"),
		crlf("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=o1\n\n--o1\n\nA\n--o\n\nB\n"),
		crlf("Content-Type: message/rfc822\n\n"),
		crlf("Content-Type: text/plain; name*0*=utf-8''%E2; name*1*=%82%AC\nContent-Transfer-Encoding: quoted-printable\n\n=E2=82=AC=\n"),
		"Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=\nTo: g: a@b, (c) <d@e>;\n\nx",
		"From: J\xf6rg <j@x.test>\r\nSubject: a\x00b\r\n\r\n\x00",
		nested(20),
		"",
		"\r\n",
		"--",
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		checkInvariants(t, p, int64(len(data)))
		// Every part a section path can name must be reachable and its
		// text decodable without error.
		var walk func(part *Part, depth int)
		walk = func(part *Part, depth int) {
			if depth > MaxNesting+2 {
				return
			}
			if _, err := DecodeText(part, bytes.NewReader(data), 1<<16); err != nil {
				t.Fatalf("DecodeText: %v", err)
			}
			for _, c := range part.Children {
				walk(c, depth+1)
			}
		}
		walk(p.Root, 0)
		if len([]rune(p.Preview)) > previewLen {
			t.Fatalf("preview too long")
		}
		// Parsing the CRLF-normalized form works as well.
		norm, _ := io.ReadAll(NewCRLFReader(bytes.NewReader(data)))
		q, err := Parse(bytes.NewReader(norm))
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, q, int64(len(norm)))
	})
}

func FuzzCRLFReader(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\nb\r\n", "\r", "\n\n\r\r\n", "end\r", strings.Repeat("x\n", 40000)} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		r := NewCRLFReader(bytes.NewReader(data))
		var out []byte
		buf := make([]byte, int(chunk)%64+1)
		for i := 0; ; i++ {
			if i > 4*len(data)+10 {
				t.Fatalf("reader does not terminate")
			}
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// Reference: every LF not preceded by CR gets one.
		var want []byte
		for i, c := range data {
			if c == '\n' && (i == 0 || data[i-1] != '\r') {
				want = append(want, '\r')
			}
			want = append(want, c)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("got %q, want %q", out, want)
		}
		// Idempotent.
		again, _ := io.ReadAll(NewCRLFReader(bytes.NewReader(out)))
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent")
		}
	})
}

func FuzzAddressList(f *testing.F) {
	for _, s := range []string{`A Group:Ed Jones <c@a.test>,joe@where.test;`, `"x" <a@b>`, `(c) a@b (d)`, `<@r:a@b>`, `"\`, `(((`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendAddressList(nil, parseAddressList(s))
		checkBalanced(t, out)
	})
}

// benchMessage builds a multipart message of about size octets with a text
// part, an HTML part and a base64 attachment.
func benchMessage(size int) []byte {
	var sb strings.Builder
	sb.WriteString(crlf(`From: "Bench Sender" <sender@example.com>
To: rcpt1@example.org, "Second" <rcpt2@example.org>
Subject: =?utf-8?q?Benchmark_message_=E2=82=AC?=
Date: Tue, 1 Jul 2003 10:52:37 +0200
Message-ID: <bench@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="==outer=="

--==outer==
Content-Type: multipart/alternative; boundary="==inner=="

--==inner==
Content-Type: text/plain; charset=utf-8

`))
	line := "The quick brown fox jumps over the lazy dog, again and again.\r\n"
	third := size / 3
	for sb.Len() < third {
		sb.WriteString(line)
	}
	sb.WriteString(crlf("--==inner==\nContent-Type: text/html; charset=utf-8\n\n"))
	for sb.Len() < 2*third {
		sb.WriteString("<p>" + line)
	}
	sb.WriteString(crlf("--==inner==--\n--==outer==\nContent-Type: application/octet-stream; name=data.bin\nContent-Transfer-Encoding: base64\n\n"))
	for sb.Len() < size-20 {
		sb.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\r\n")
	}
	sb.WriteString("--==outer==--\r\n")
	return []byte(sb.String())
}

func BenchmarkParse(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		msg := benchMessage(size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCRLFReader(b *testing.B) {
	msg := bytes.ReplaceAll(benchMessage(100<<10), []byte("\r\n"), []byte("\n"))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := io.Copy(io.Discard, NewCRLFReader(bytes.NewReader(msg))); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzHeaderValues(f *testing.F) {
	for _, s := range []string{
		"Tue, 1 Jul 2003 10:52:37 +0200", "[Fwd: Re: [x] Hello] (fwd)", `attachment; filename*0*=utf-8''%E2; filename*1=x`,
		"=?utf-8?q?a?= =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "<a@b> <c@d> e@f", "text/plain; (c) charset=\"us-ascii\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseDate(s); ok && d.IsZero() {
			t.Fatalf("zero date accepted for %q", s)
		}
		if base, _ := BaseSubject(s); len(base) > len(s) {
			t.Fatalf("base subject grew: %q -> %q", s, base)
		}
		v, params := parseMIMEHeader(s)
		if len(v) > len(s) {
			t.Fatalf("media type grew")
		}
		checkBalanced(t, appendParams(nil, params))
		_ = decodeWords(s)
		_ = msgIDs(s)
		_ = HTMLToText(s)
		FirstAddress(s)
	})
}
