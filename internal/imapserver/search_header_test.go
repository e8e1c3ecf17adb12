package imapserver

import (
	"strings"
	"testing"
)

// FROM, TO and SUBJECT match the decoded field, case-insensitively, and
// only that field (not the body); they combine with AND, OR and NOT.
func TestSearchHeaderKeys(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login()
	msgs := []string{
		// 1: the needle in From only
		"From: Zebra Crossing <zc@example.org>\r\nTo: bob@example.org\r\nSubject: hello\r\n\r\nnothing here\r\n",
		// 2: the needle in the body only: a candidate the row check drops
		"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: notes\r\n\r\nzebra crossing ahead\r\n",
		// 3: an encoded-word Subject, matched decoded
		"From: carol@example.org\r\nTo: bob@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_vom_Zebra?=\r\n\r\nbody\r\n",
		// 4: upper case in To
		"From: dave@example.org\r\nTo: ZEBRA Team <team@example.org>\r\nSubject: x\r\n\r\nbody\r\n",
	}
	for _, m := range msgs {
		c.appendMsg("INBOX", "", m)
	}
	c.ok("SELECT INBOX")
	cases := map[string]string{
		`SEARCH FROM "zebra"`:                  "* SEARCH 1",
		`SEARCH SUBJECT "zebra"`:               "* SEARCH 3",
		`SEARCH TO "zebra"`:                    "* SEARCH 4",
		`SEARCH BODY "zebra"`:                  "* SEARCH 2",
		`SEARCH FROM "zebra" SUBJECT "hello"`:  "* SEARCH 1",
		`SEARCH FROM "zebra" SUBJECT "notes"`:  "* SEARCH",
		`SEARCH OR FROM "zebra" TO "zebra"`:    "* SEARCH 1 4",
		`SEARCH NOT FROM "zebra"`:              "* SEARCH 2 3 4",
		`SEARCH FROM "ze"`:                     "* SEARCH 1",
		`SEARCH CHARSET UTF-8 SUBJECT "grüße"`: "* SEARCH 3",
		`SEARCH SUBJECT "vom zebra"`:           "* SEARCH 3",       // spans a space
		`SEARCH FROM "example.org"`:            "* SEARCH 1 2 3 4", // punctuation
	}
	for cmd, want := range cases {
		u := c.ok(cmd)
		if len(u) != 1 || strings.TrimSpace(u[0]) != want {
			t.Errorf("%s: %q, want %q", cmd, u, want)
		}
	}
}
