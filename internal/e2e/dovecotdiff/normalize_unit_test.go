package dovecotdiff

import (
	"strings"
	"testing"
)

// These tests check the harness itself; they need no Dovecot and run in CI.

func TestNormalizeLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"TAG OK [READ-WRITE] Select completed (0.001 + 0.000 secs).", "TAG OK [READ-WRITE]"},
		{"TAG BAD [PARSE] Error in IMAP command: Unknown", "TAG BAD"},
		{"* OK [UIDVALIDITY 1764107000] UIDs valid", "* OK [UIDVALIDITY <uidvalidity>]"},
		{"TAG OK [COPYUID 99 1,2,3 5:7] Done", "TAG OK [COPYUID <uidvalidity> 1:3 5:7]"},
		{`* 3 FETCH (UID 3 FLAGS (\Seen \Answered) INTERNALDATE "01-Feb-2024 10:00:00 +0100" MODSEQ (12))`,
			`* 3 FETCH (FLAGS (\ANSWERED \SEEN) INTERNALDATE 2024-02-01T09:00:00Z MODSEQ (<modseq>) UID 3)`},
		{"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: Hello\r\n)", `* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] "Subject: Hello\r\n")`},
		{"* 1 FETCH (BODY[1] {5}\r\nHello)", `* 1 FETCH (BODY[1] "Hello")`},
		{`* 1 FETCH (BODY[1] "Hello")`, `* 1 FETCH (BODY[1] "Hello")`},
		{"* SEARCH 5 1 3 (MODSEQ 40)", "* SEARCH 1 3 5 (MODSEQ <modseq>)"},
		{`* ESEARCH (TAG "d012") UID COUNT 3 MIN 1 ALL 1,2,3`, `* ESEARCH (TAG "TAG") UID ALL 1:3 COUNT 3 MIN 1`},
		{`* LIST (\Sent \HasNoChildren) "/" "Sent"`, `* LIST (\HASNOCHILDREN \SENT) "/" Sent`},
		{"* STATUS INBOX (UIDVALIDITY 5 MESSAGES 2)", "* STATUS INBOX (MESSAGES 2 UIDVALIDITY <uidvalidity>)"},
		{"* ENABLED", "* ENABLED"},
		{"* 2 EXPUNGE", "* 2 EXPUNGE"},
		{`* 1 FETCH (BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1))`,
			`* 1 FETCH (BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 6 1))`},
	}
	for _, c := range cases {
		z := &normalizer{caps: map[string]bool{}}
		if got := z.line(c.in); got != c.want {
			t.Errorf("line(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeCapabilities(t *testing.T) {
	z := &normalizer{caps: map[string]bool{}}
	if got := z.line("* CAPABILITY IMAP4rev1 IDLE move"); got != "* CAPABILITY <caps>" {
		t.Errorf("got %q", got)
	}
	if got := z.line("TAG OK [CAPABILITY SORT] Logged in"); got != "TAG OK [CAPABILITY <caps>]" {
		t.Errorf("got %q", got)
	}
	for _, c := range []string{"IMAP4REV1", "IDLE", "MOVE", "SORT"} {
		if !z.caps[c] {
			t.Errorf("capability %s not collected: %v", c, z.caps)
		}
	}
}

func TestResponsesKeepExpungeOrder(t *testing.T) {
	z := &normalizer{caps: map[string]bool{}}
	got := z.responses([]string{"* 3 EXISTS", "* 1 RECENT", "* 4 EXPUNGE", "* 2 EXPUNGE", "TAG OK done"})
	want := []string{"* 1 RECENT", "* 3 EXISTS", "* 4 EXPUNGE", "* 2 EXPUNGE", "TAG OK"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCanonicalSet(t *testing.T) {
	for in, want := range map[string]string{"1,2,3": "1:3", "1:3": "1:3", "5,1:2": "5,1:2", "3:1": "3,2,1", "7": "7", "*": "*", "1:*": "1:*"} {
		if got := canonicalSet(in); got != want {
			t.Errorf("canonicalSet(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnifiedDiff(t *testing.T) {
	if d, ch := unifiedDiff([]string{"a", "b"}, []string{"a", "b"}); d != "" || ch != nil {
		t.Errorf("equal inputs: %q %q", d, ch)
	}
	d, ch := unifiedDiff([]string{"a", "b", "c"}, []string{"a", "x", "c"})
	if !strings.Contains(d, "-b\n") || !strings.Contains(d, "+x\n") || len(ch) != 2 {
		t.Errorf("diff %q changed %q", d, ch)
	}
}

func TestAllowListPairs(t *testing.T) {
	d := `* 2 FETCH (BODY (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 41 0) "MIXED"))`
	if !linesPlusOne(d, strings.Replace(d, "41 0", "41 1", 1)) {
		t.Error("line count one higher was not accepted")
	}
	if linesPlusOne(d, strings.Replace(d, "41 0", "42 0", 1)) && linesPlusOne(d, strings.Replace(d, "41 0", "41 2", 1)) {
		t.Error("a size change or a line count two higher was accepted")
	}
	if linesPlusOne(d, strings.Replace(d, "41 0", "41 2", 1)) {
		t.Error("line count two higher was accepted")
	}
	// Every allow-list entry must say why and tolerate something.
	for _, a := range allowList {
		if a.reason == "" || (a.erase == nil && a.strip == nil && a.lines == nil) {
			t.Errorf("allow-list entry for %q has no reason or no pattern", a.transcript)
		}
	}
}

func TestLiteralSize(t *testing.T) {
	for in, want := range map[string]int{"* 1 FETCH (BODY[] {12}": 12, "* 1 FETCH (BINARY[1] ~{3}": 3, "A {5+}": 5, "* OK no": -1, "{x}": -1} {
		n, ok := literalSize(in)
		if (want < 0) == ok || (ok && n != want) {
			t.Errorf("literalSize(%q) = %d, %v; want %d", in, n, ok, want)
		}
	}
}

// FuzzParseNodes checks that the response parser terminates on any input
// and that normalizing never panics.
func FuzzParseNodes(f *testing.F) {
	for _, s := range []string{
		`* 1 FETCH (FLAGS (\Seen) BODY[HEADER.FIELDS (A B)] {3}` + "\r\nabc)",
		`* LIST (\Noselect) "/" "a b"`, `* ESEARCH (TAG "x") ALL 1:3`, "TAG OK [COPYUID 1 2 3] x",
		`"unterminated`, "((((", "))", "{99}\r\nshort", "* 1 FETCH (BODY[1 {2}\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, _ := parseNodes(s)
		_ = joinNodes(ns)
		z := &normalizer{caps: map[string]bool{}}
		_ = z.line(s)
		_ = z.line("* " + s)
	})
}
