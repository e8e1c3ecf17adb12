package message

import (
	"strings"
	"testing"
)

const rfc822Msg = `From: outer@example.com
To: someone@example.org
Subject: fwd
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain

see attached
--b1
Content-Type: message/rfc822
Content-Description: forwarded

From: Inner Person <inner@example.net>
Subject: inner subject
Date: Wed, 2 Jul 2003 11:00:00 -0700
Content-Type: multipart/alternative; boundary=b2

--b2
Content-Type: text/plain

inner text
--b2
Content-Type: text/html

<b>inner</b>
--b2--

--b1--
`

func TestParseMessageRFC822(t *testing.T) {
	raw := crlf(rfc822Msg)
	p := mustParse(t, raw)
	att := p.Root.Section([]int{2})
	if !att.IsMessage() || len(att.Children) != 1 {
		t.Fatalf("part 2: %+v", att)
	}
	inner := att.Children[0]
	if inner.HeaderStart != att.BodyStart {
		t.Errorf("encapsulated header starts at %d, body of part at %d", inner.HeaderStart, att.BodyStart)
	}
	if got := slice(raw, inner.HeaderStart, inner.BodyStart); !strings.HasPrefix(got, "From: Inner") || !strings.HasSuffix(got, "b2\r\n\r\n") {
		t.Errorf("BODY[2.HEADER] = %q", got)
	}
	if got := section(t, p, raw, 2, 1); got != "inner text" {
		t.Errorf("BODY[2.1] = %q", got)
	}
	if got := section(t, p, raw, 2, 2); got != "<b>inner</b>" {
		t.Errorf("BODY[2.2] = %q", got)
	}
	if p.Root.Section([]int{2, 3}) != nil || p.Root.Section([]int{1, 1}) != nil || p.Root.Section([]int{3}) != nil || p.Root.Section([]int{0}) != nil {
		t.Errorf("invalid sections resolved")
	}
	wantEnv := `(NIL "inner subject" (("Inner Person" NIL "inner" "example.net")) (("Inner Person" NIL "inner" "example.net")) (("Inner Person" NIL "inner" "example.net")) NIL NIL NIL NIL NIL)`
	wantEnv = strings.Replace(wantEnv, "(NIL \"inner", "(\"Wed, 2 Jul 2003 11:00:00 -0700\" \"inner", 1)
	if string(att.EnvelopeIMAP) != wantEnv {
		t.Errorf("inner ENVELOPE\n got %s\nwant %s", att.EnvelopeIMAP, wantEnv)
	}
	// The message/rfc822 body runs up to the CRLF before "--b1--": 14
	// lines, the last one the empty line after "--b2--".
	want := `(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 12 1 NIL NIL NIL NIL)` +
		`("MESSAGE" "RFC822" NIL NIL "forwarded" "7BIT" 255 ` + wantEnv +
		` (("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 12 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "b2") NIL NIL NIL)` +
		` 14 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)`
	if string(p.BodyStructureIMAP) != want {
		t.Errorf("BODYSTRUCTURE\n got %s\nwant %s", p.BodyStructureIMAP, want)
	}
	if att.End-att.BodyStart != 255 {
		t.Errorf("rfc822 size %d", att.End-att.BodyStart)
	}
	if p.Preview != "see attached" {
		t.Errorf("Preview %q", p.Preview)
	}
}

func TestParseDigest(t *testing.T) {
	raw := crlf(`From: list@example.com
Subject: digest
Content-Type: multipart/digest; boundary="d"

--d

From: a@example.com
Subject: one

first
--d
Content-Type: text/plain

not a message
--d

From: b@example.com
Subject: two

second
--d--
`)
	p := mustParse(t, raw)
	if n := len(p.Root.Children); n != 3 {
		t.Fatalf("%d children", n)
	}
	for i, wantMsg := range []bool{true, false, true} {
		c := p.Root.Children[i]
		if c.IsMessage() != wantMsg {
			t.Errorf("child %d: %s/%s", i+1, c.Type, c.Subtype)
		}
	}
	if got := section(t, p, raw, 3, 1); got != "second" {
		t.Errorf("BODY[3.1] = %q", got)
	}
	if !strings.Contains(string(p.Root.Children[0].EnvelopeIMAP), `"one"`) {
		t.Errorf("digest envelope %s", p.Root.Children[0].EnvelopeIMAP)
	}
	want := `(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 42 (NIL "one" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)` +
		` ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 5 1) 4)`
	if !strings.HasPrefix(string(p.BodyIMAP), want) {
		t.Errorf("BODY\n got %s\nwant prefix %s", p.BodyIMAP, want)
	}
}

func TestRFC2231Params(t *testing.T) {
	tests := []struct {
		in     string
		value  string
		params [][2]string
	}{
		{`text/plain; charset="utf-8"`, "text/plain", [][2]string{{"charset", "utf-8"}}},
		{`Text/HTML;Charset=ISO-8859-1 (comment) ; format=flowed`, "text/html", [][2]string{{"charset", "ISO-8859-1"}, {"format", "flowed"}}},
		{`application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A`, "application/x-stuff", [][2]string{{"title", "This is ***fun***"}}},
		{`message/external-body; access-type=URL; URL*0="ftp://"; URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"`, "message/external-body",
			[][2]string{{"access-type", "URL"}, {"url", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"}}},
		{`application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2="isn't it!"`, "application/x-stuff",
			[][2]string{{"title", "This is even more ***fun*** isn't it!"}}},
		{`attachment; filename*=iso-8859-1''caf%E9.txt; filename="cafe.txt"`, "attachment", [][2]string{{"filename", "café.txt"}}},
		{`attachment; filename="cafe.txt"; filename*=UTF-8''caf%C3%A9.txt`, "attachment", [][2]string{{"filename", "café.txt"}}},
		{`attachment; filename*1="b.txt"; filename*0="a"`, "attachment", [][2]string{{"filename", "ab.txt"}}},
		{`attachment; filename*=koi8-r''%F0%D2%C9%D7%C5%D4`, "attachment", [][2]string{{"filename", "Привет"}}},
		{`attachment; filename*=x-nonsense''abc%41`, "attachment", [][2]string{{"filename", "abcA"}}},
		{`text/plain; junk; charset=us-ascii; =bad; name="unterminated`, "text/plain", [][2]string{{"charset", "us-ascii"}, {"name", "unterminated"}}},
		{`text/plain; name=a"b; x=1`, "text/plain", [][2]string{{"name", `a"b`}, {"x", "1"}}},
	}
	for _, tt := range tests {
		v, ps := parseMIMEHeader(tt.in)
		if v != tt.value || !equalParams(ps, tt.params) {
			t.Errorf("parseMIMEHeader(%q) = %q %q, want %q %q", tt.in, v, ps, tt.value, tt.params)
		}
	}
}

func equalParams(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRFC2231InBodyStructure(t *testing.T) {
	raw := crlf("Content-Type: application/octet-stream; name*=utf-8''%E2%82%AC.bin\n\nx")
	p := mustParse(t, raw)
	want := `("APPLICATION" "OCTET-STREAM" ("NAME*" "utf-8''%E2%82%AC.bin") NIL NIL "7BIT" 1 NIL NIL NIL NIL)`
	if string(p.BodyStructureIMAP) != want {
		t.Errorf("got %s\nwant %s", p.BodyStructureIMAP, want)
	}
	if p.Root.Param("name") != "€.bin" {
		t.Errorf("param %q", p.Root.Param("name"))
	}
}

func TestEnvelopeAddresses(t *testing.T) {
	tests := []struct{ in, want string }{
		{`A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;`,
			`((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL))`},
		{`undisclosed-recipients:;`, `((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`},
		{`"Giant; \"Big\" Box" <sysservices@example.net>`, `(("Giant; \"Big\" Box" NIL "sysservices" "example.net"))`},
		{`Pete(A nice \) chap) <pete(his account)@silly.test(his host)>`, `(("Pete" NIL "pete" "silly.test"))`},
		{`jdoe@example.org (John Doe)`, `(("John Doe" NIL "jdoe" "example.org"))`},
		{`<@route1,@route2:user@host.test>`, `((NIL "@route1,@route2" "user" "host.test"))`},
		{`=?utf-8?q?J=C3=B6rg?= <j@x.test>`, `(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.test"))`},
		{`"john doe"@example.com`, `((NIL NIL "\"john doe\"" "example.com"))`},
		{`nodomain`, `((NIL NIL "nodomain" "MISSING_DOMAIN"))`},
		{`Name <>`, `(("Name" NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
		{`Joe Q. Public <john@x.test>`, `(("Joe Q. Public" NIL "john" "x.test"))`},
		{`a@b.test c@d.test`, `((NIL NIL "a" "b.test")(NIL NIL "c" "d.test"))`},
		{``, `NIL`},
		{`,,,`, `NIL`},
		{`Jörg <j@x.test>`, "((" + "{5}\r\nJörg" + ` NIL "j" "x.test"))`},
		{`Group: a@b.test, ; other@c.test`, `((NIL NIL "Group" NIL)(NIL NIL "a" "b.test")(NIL NIL NIL NIL)(NIL NIL "other" "c.test"))`},
		{`broken <a@b.test`, `(("broken" NIL "a" "b.test"))`},
		{`<>`, `NIL`},
	}
	for _, tt := range tests {
		got := string(appendAddressList(nil, parseAddressList(tt.in)))
		if got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestEnvelopeFields(t *testing.T) {
	raw := crlf(`Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)
From: Fred Foobar <foobar@Blurdybloop.example>
Sender: sec@example.com
Reply-To: 
Subject: afternoon meeting "again" \ here
To: mooch@owatagu.siam.edu.example
Cc:
Bcc: hidden@example.com
In-Reply-To: <parent@example.com>
Message-Id: <B27397-0100000@Blurdybloop.example>

body
`)
	p := mustParse(t, raw)
	want := `("Mon, 7 Feb 1994 21:52:25 -0800 (PST)" "afternoon meeting \"again\" \\ here"` +
		` (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) ((NIL NIL "sec" "example.com"))` +
		` (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) ((NIL NIL "mooch" "owatagu.siam.edu.example"))` +
		` NIL ((NIL NIL "hidden" "example.com")) "<parent@example.com>" "<B27397-0100000@Blurdybloop.example>")`
	if string(p.EnvelopeIMAP) != want {
		t.Errorf("ENVELOPE\n got %s\nwant %s", p.EnvelopeIMAP, want)
	}
	if p.Headers.Date.Unix() != 760686745 {
		t.Errorf("Date %v", p.Headers.Date)
	}
	if p.Headers.InReplyTo != "<parent@example.com>" || p.Headers.Bcc != "hidden@example.com" {
		t.Errorf("Headers %+v", p.Headers)
	}
}

func TestEncodedWordSubjects(t *testing.T) {
	tests := []struct{ in, want string }{
		{`=?ISO-8859-1?Q?Caf=E9?= au lait`, "Café au lait"},
		{`=?UTF-8?B?w4lsw6l2ZQ==?=`, "Éléve"},
		{`=?utf-8?q?a?= =?utf-8?q?b?=`, "ab"},
		{`=?utf-8?q?a?=  x  =?utf-8?q?b?=`, "a  x  b"},
		{`=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=`, "日本語"},
		{`=?windows-1251?B?z/Do4uXy?=`, "Привет"},
		{`=?koi8-r?Q?=F0=D2=C9=D7=C5=D4?=`, "Привет"},
		{`=?x-unknown-charset?Q?abc?= tail`, "=?x-unknown-charset?Q?abc?= tail"},
		{`=?utf-8?x?bad-encoding?=`, "=?utf-8?x?bad-encoding?="},
		{`no words here`, "no words here"},
		{"raw caf\xe9", "raw café"},
		{`=?utf-8?q?unterminated`, "=?utf-8?q?unterminated"},
	}
	for _, tt := range tests {
		raw := crlf("Subject: " + tt.in + "\n\nbody\n")
		p := mustParse(t, raw)
		if p.Headers.Subject != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, p.Headers.Subject, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339, "" for no date
	}{
		{"Tue, 1 Jul 2003 10:52:37 +0200", "2003-07-01T10:52:37+02:00"},
		{"1 Jul 2003 10:52 +0200", "2003-07-01T10:52:00+02:00"},
		{"Tue, 01 Jul 03 10:52:37 GMT", "2003-07-01T10:52:37Z"},
		{"Tue, 1 Jul 2003 10:52:37 EST", "2003-07-01T10:52:37-05:00"},
		{"Tue, 1 Jul 2003 10:52:37 +0200 (CEST)", "2003-07-01T10:52:37+02:00"},
		{"Tue Jul  1 10:52:37 2003", "2003-07-01T10:52:37Z"},
		{"Tuesday, July 1, 2003 10:52:37 AM +0200", "2003-07-01T10:52:37+02:00"},
		{"2003-07-01T10:52:37Z", "2003-07-01T10:52:37Z"},
		{"1 Jul 99 10:52:37 -0000", "1999-07-01T10:52:37Z"},
		{"Tue, 1 Jul 2003 10:52:37 CEST", "2003-07-01T10:52:37+02:00"},
		{"Tue,1 Jul 2003 10:52:37 +0200", "2003-07-01T10:52:37+02:00"},
		{"31 Feb 2003 10:00:00 +0000", ""},
		{"garbage", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := ParseDate(tt.in)
		s := ""
		if ok {
			s = got.Format("2006-01-02T15:04:05Z07:00")
		}
		if s != tt.want {
			t.Errorf("ParseDate(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

func TestReferences(t *testing.T) {
	raw := crlf("Message-ID: <a@x>\nReferences: <r1@x>\n <r2@x> (comment) <r3@x>\n  bare@host\nIn-Reply-To: <r3@x>\n\n")
	p := mustParse(t, raw)
	want := []string{"<r1@x>", "<r2@x>", "<r3@x>", "<bare@host>"}
	if strings.Join(p.Headers.References, " ") != strings.Join(want, " ") {
		t.Errorf("References %q", p.Headers.References)
	}
	if p.Headers.MessageID != "<a@x>" {
		t.Errorf("MessageID %q", p.Headers.MessageID)
	}
}

// TestRFC3501Example rebuilds the message behind the BODY example of RFC
// 3501 §7.4.2 and expects exactly the RFC's rendering.
func TestRFC3501Example(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("Content-Type: MULTIPART/MIXED; BOUNDARY=\"x\"\r\n\r\n--x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n")
	for i := 0; i < 22; i++ {
		sb.WriteString(strings.Repeat("t", 48) + "\r\n")
	}
	sb.WriteString(strings.Repeat("t", 52)) // 22*50+52 = 1152 octets, 23 lines
	sb.WriteString("\r\n--x\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff\r\n" +
		"Content-ID: <960723163407.20117h@cac.washington.edu>\r\nContent-Description: Compiler diff\r\n" +
		"Content-Transfer-Encoding: BASE64\r\n\r\n")
	for i := 0; i < 72; i++ {
		sb.WriteString(strings.Repeat("A", 60) + "\r\n")
	}
	sb.WriteString(strings.Repeat("A", 90)) // 72*62+90 = 4554 octets, 73 lines
	sb.WriteString("\r\n--x--\r\n")
	p := mustParse(t, sb.String())
	want := `(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")`
	if string(p.BodyIMAP) != want {
		t.Errorf("BODY\n got %s\nwant %s", p.BodyIMAP, want)
	}
}
