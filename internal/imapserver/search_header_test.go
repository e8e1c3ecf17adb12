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

// The database narrows FROM and SUBJECT searches (HeaderCandidates) with
// LIKE, which folds ASCII case only: rows with other characters must still
// reach the exact check, and LIKE's wildcards in a needle are literal.
func TestSearchHeaderPrefilter(t *testing.T) {
	searchCases(t, []string{
		// 1: KELVIN SIGN (U+212A) lower-cases to an ASCII k
		"From: a@example.org\r\nSubject: =?UTF-8?Q?=E2=84=AAelvin_scale?=\r\n\r\nbody\r\n",
		// 2
		"From: b@example.org\r\nSubject: 500 apples\r\n\r\nbody\r\n",
		// 3
		"From: c@example.org\r\nSubject: 50% off\r\n\r\nbody\r\n",
		// 4
		"From: d_e@example.org\r\nSubject: snake_case\r\n\r\nbody\r\n",
		// 5
		"From: dxe@example.org\r\nSubject: snakeXcase\r\n\r\nbody\r\n",
		// 6: a backslash
		"From: f@example.org\r\nSubject: a\\b\r\n\r\nbody\r\n",
	}, map[string]string{
		`SEARCH SUBJECT "kelvin"`:                 "* SEARCH 1",
		`SEARCH SUBJECT "KELVIN SCALE"`:           "* SEARCH 1",
		`SEARCH SUBJECT "50%"`:                    "* SEARCH 3",
		`SEARCH SUBJECT "e_c"`:                    "* SEARCH 4",
		`SEARCH FROM "d_e"`:                       "* SEARCH 4",
		`SEARCH SUBJECT "a\\b"`:                   "* SEARCH 6",
		`SEARCH SUBJECT "apples" FROM "b@"`:       "* SEARCH 2",
		`SEARCH NOT SUBJECT "apples"`:             "* SEARCH 1 3 4 5 6",
		`SEARCH OR SUBJECT "50" FROM "dxe"`:       "* SEARCH 2 3 5",
		`SEARCH 2:4 SUBJECT "5"`:                  "* SEARCH 2 3",
		"SEARCH CHARSET UTF-8 SUBJECT \"\u212a\"": "* SEARCH 1 4 5", // lower-cased: k
	})
}

// TO, CC and BCC are narrowed in the database as FROM is (hdr_to, hdr_cc,
// hdr_bcc), with the same care for non-ASCII rows and LIKE's wildcards;
// a message without the field never matches.
func TestSearchAddressPrefilter(t *testing.T) {
	searchCases(t, []string{
		// 1: KELVIN SIGN (lower-cased: an ASCII k) in a To display name
		"From: a@example.org\r\nTo: =?UTF-8?Q?=E2=84=AAelvin?= <t@example.org>\r\nSubject: one\r\n\r\nbody\r\n",
		// 2: Cc with an underscore; the body names the To needle
		"From: b@example.org\r\nTo: x@example.org\r\nCc: d_e@example.net\r\nSubject: two\r\n\r\nzulu@example.org\r\n",
		// 3: Bcc, upper case
		"From: c@example.org\r\nTo: y@example.org\r\nBcc: ZULU <zulu@example.org>\r\nSubject: three\r\n\r\nbody\r\n",
		// 4: Cc with a percent sign and no To at all
		"From: d@example.org\r\nCc: \"50% off\" <sale@example.com>\r\nSubject: four\r\n\r\nbody\r\n",
	}, map[string]string{
		`SEARCH TO "kelvin"`:                      "* SEARCH 1",
		"SEARCH CHARSET UTF-8 TO \"\u212aelvin\"": "* SEARCH 1",
		`SEARCH TO "zulu"`:                        "* SEARCH",
		`SEARCH BCC "zulu"`:                       "* SEARCH 3",
		`SEARCH CC "d_e"`:                         "* SEARCH 2",
		`SEARCH CC "dxe"`:                         "* SEARCH",
		`SEARCH CC "50%"`:                         "* SEARCH 4",
		`SEARCH CC "example"`:                     "* SEARCH 2 4",
		`SEARCH TO "example.org"`:                 "* SEARCH 1 2 3",
		`SEARCH TO "example" SUBJECT "two"`:       "* SEARCH 2",
		`SEARCH NOT CC "example"`:                 "* SEARCH 1 3",
		`SEARCH OR BCC "zulu" CC "sale"`:          "* SEARCH 3 4",
		`SEARCH 2:4 TO "@"`:                       "* SEARCH 2 3",
		`SEARCH BODY "zulu" TO "x@"`:              "* SEARCH 2",
	})
}

// searchCases appends msgs to a fresh account's INBOX, selects it and
// checks that each command's one untagged response is the one given.
func searchCases(t *testing.T, msgs []string, cases map[string]string) {
	t.Helper()
	ts := newTestServer(t)
	c := ts.login()
	for _, m := range msgs {
		c.appendMsg("INBOX", "", m)
	}
	c.ok("SELECT INBOX")
	for cmd, want := range cases {
		u := c.ok(cmd)
		if len(u) != 1 || u[0] != want {
			t.Errorf("%s: %q, want %q", cmd, u, want)
		}
	}
}
