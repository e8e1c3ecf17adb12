package imapserver

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/imapwire"
)

// filled returns a logged-in connection with n messages in INBOX, selected.
func filled(t *testing.T, ts *testServer, n int) *tconn {
	c := ts.login()
	for i := 1; i <= n; i++ {
		c.appendMsg("INBOX", "", testMessage(i))
	}
	c.ok("SELECT INBOX")
	return c
}

func TestSelectExamine(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.appendMsg("INBOX", `\Seen`, testMessage(1))
	c.appendMsg("INBOX", "$Label", testMessage(2))
	u, st := c.cmd("SELECT INBOX")
	if st != "OK [READ-WRITE] SELECT completed" {
		t.Fatalf("select: %q", st)
	}
	has(t, u, "* 2 EXISTS")
	has(t, u, "* 2 RECENT")
	has(t, u, "* OK [UNSEEN 2]")
	has(t, u, "* OK [UIDVALIDITY ")
	has(t, u, "* OK [UIDNEXT 3]")
	has(t, u, `* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Label \*)]`)
	has(t, u, "* OK [HIGHESTMODSEQ ")
	// A second session does not see them as recent.
	d := ts.login()
	u, st = d.cmd("EXAMINE INBOX")
	if st != "OK [READ-ONLY] EXAMINE completed" {
		t.Fatalf("examine: %q", st)
	}
	has(t, u, "* 0 RECENT")
	has(t, u, "* OK [PERMANENTFLAGS ()]")
	_, st = d.cmd("STORE 1 +FLAGS (\\Flagged)")
	if !strings.HasPrefix(st, "NO [READ-ONLY]") {
		t.Fatalf("store in examine: %q", st)
	}
	u, st = c.cmd("SELECT Nope")
	if !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Fatalf("select missing: %q", st)
	}
	has(t, u, "* OK [CLOSED]")
	c.bad("FETCH 1 FLAGS") // deselected by the failed SELECT
	c.ok("ENABLE IMAP4rev2")
	u = c.ok("SELECT INBOX")
	hasNot(t, u, "RECENT")
	has(t, u, `* LIST () "/" INBOX`)
	c.ok("UNSELECT")
	c.bad("UNSELECT")
	c.bad("SELECT")
}

func TestFetch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.appendMsg("INBOX", "", testMessage(1))
	c.appendMsg("INBOX", "", multipartMessage)
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE UID)")
	has(t, u, `* 1 FETCH (FLAGS (\Recent) INTERNALDATE "`)
	has(t, u, `ENVELOPE ("Mon, 7 Feb 2024 21:52:25 -0800" "test message 1"`)
	has(t, u, "UID 1)")
	u = c.ok("FETCH 2 BODYSTRUCTURE")
	has(t, u, `BODYSTRUCTURE (("TEXT" "PLAIN"`)
	u = c.ok("FETCH 2 BODY.PEEK[2]")
	has(t, u, "BODY[2] {12}\r\nAAECAwQFBgc=")
	hasNot(t, u, "FLAGS")
	u = c.ok("FETCH 2 BINARY.PEEK[2]")
	has(t, u, "BINARY[2] ~{8}\r\n\x00\x01\x02\x03\x04\x05\x06\x07")
	u = c.ok("FETCH 2 BINARY.SIZE[2]")
	has(t, u, "BINARY.SIZE[2] 8")
	u = c.ok("FETCH 2 BODY.PEEK[1.MIME]")
	has(t, u, "Content-Type: text/plain; charset=utf-8")
	u = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject From)])")
	has(t, u, "BODY[HEADER.FIELDS (SUBJECT FROM)] {")
	has(t, u, "Subject: test message 1")
	hasNot(t, u, "Message-ID")
	u = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Subject)])")
	has(t, u, "Message-ID")
	hasNot(t, u, "Subject:")
	u = c.ok("FETCH 1 BODY.PEEK[TEXT]<0.5>")
	has(t, u, "BODY[TEXT]<0> {5}\r\nHello")
	u = c.ok("FETCH 1 RFC822.HEADER")
	has(t, u, "RFC822.HEADER {")
	hasNot(t, u, `\Seen`)
	// BODY[] sets \Seen and reports FLAGS.
	u = c.ok("FETCH 1 BODY[]")
	has(t, u, `\Seen`)
	has(t, u, "Hello body 1")
	u = c.ok("UID FETCH 2 (RFC822.SIZE MODSEQ SAVEDATE EMAILID THREADID PREVIEW)")
	has(t, u, "UID 2")
	has(t, u, "MODSEQ (")
	has(t, u, `PREVIEW "See the attachment."`)
	if d := saveDate(t, u[0]); time.Since(d) > time.Minute || time.Until(d) > time.Minute {
		t.Fatalf("SAVEDATE %v is not the time of the APPEND", d)
	}
	u = c.ok("FETCH 1 (PREVIEW)")
	has(t, u, `* 1 FETCH (PREVIEW "Hello body 1")`)
	u = c.ok("FETCH 1:* FAST")
	has(t, u, "* 2 FETCH")
	u = c.ok("FETCH 2 BODY")
	has(t, u, `BODY (("TEXT" "PLAIN"`)
	u = c.ok("FETCH 2 (BODY.PEEK[9])")
	has(t, u, `BODY[9] ""`)
	_, st := c.cmd("FETCH 2 BINARY[9]")
	if !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Fatalf("binary missing part: %q", st)
	}
	c.bad("FETCH 3 FLAGS")
	c.bad("FETCH 1 (BOGUS)")
	c.bad("FETCH 1")
	c.bad("FETCH 1 BODY[HEADER.FIELDS ()]")
	c.bad("FETCH 0 FLAGS")
	c.ok("UID FETCH 99 FLAGS")
}

var saveDateRe = regexp.MustCompile(`SAVEDATE "([^"]+)"`)

// saveDate returns the SAVEDATE of a FETCH response, which must be a quoted
// date-time (never NIL: every mailbox of the store records save dates).
func saveDate(t *testing.T, line string) time.Time {
	t.Helper()
	m := saveDateRe.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no quoted SAVEDATE in %q", line)
	}
	d, err := time.Parse(imapwire.DateTimeLayout, m[1])
	if err != nil {
		t.Fatalf("SAVEDATE in %q: %v", line, err)
	}
	return d
}

// TestPreviewSaveDateTwoSessions: PREVIEW text and SAVEDATE of messages one
// session appends, as another session fetches them. SAVEDATE is when the
// message entered the mailbox (the APPEND, a later COPY), not its
// INTERNALDATE; PREVIEW is the folded start of the text, "" without any.
func TestPreviewSaveDateTwoSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.login()
	b := ts.login()
	html := "From: a@example.com\r\nSubject: h\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><head><style>p { color: red }</style></head><body><p>Hi there,</p>\r\n<p>see   you &amp; bye</p></body></html>\r\n"
	plain := "From: a@example.com\r\nSubject: p\r\n\r\nLine one\r\n\r\n   line\ttwo \"quoted\"\r\n"
	attachment := "From: a@example.com\r\nSubject: a\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgc=\r\n"
	long := "From: a@example.com\r\nSubject: l\r\n\r\n" + strings.Repeat("word ", 100) + "\r\n"
	before := time.Now().Add(-time.Second)
	for i, m := range []string{html, plain, attachment, long} {
		tag := fmt.Sprintf("a%d", i)
		a.send(fmt.Sprintf("%s APPEND INBOX \"05-Mar-2023 10:00:00 +0000\" {%d+}\r\n%s\r\n", tag, len(m), m))
		if _, st := a.until(tag); !strings.HasPrefix(st, "OK") {
			t.Fatalf("append %d: %q", i+1, st)
		}
	}
	after := time.Now().Add(time.Second)

	b.ok("EXAMINE INBOX")
	u := b.ok("FETCH 1:* (PREVIEW SAVEDATE INTERNALDATE)")
	if len(u) != 4 {
		t.Fatalf("fetch: %q", u)
	}
	for i, want := range []string{`"Hi there, see you & bye"`, `"Line one line two \"quoted\""`, `""`, `"` + strings.TrimSpace(strings.Repeat("word ", 40)) + `"`} {
		has(t, u[i:i+1], "PREVIEW "+want+" ")
		has(t, u[i:i+1], `INTERNALDATE "05-Mar-2023 10:00:00 +0000"`)
		if d := saveDate(t, u[i]); d.Before(before.Truncate(time.Second)) || d.After(after) {
			t.Fatalf("message %d: SAVEDATE %v outside the APPEND (%v to %v)", i+1, d, before, after)
		}
	}
	orig := saveDate(t, u[1])
	// Both sessions see the same.
	a.ok("SELECT INBOX")
	if u2 := a.ok("FETCH 2 (PREVIEW SAVEDATE)"); !saveDate(t, u2[0]).Equal(orig) || !strings.Contains(u2[0], `PREVIEW "Line one`) {
		t.Fatalf("first session: %q, want SAVEDATE %v", u2, orig)
	}
	hasNot(t, u, "SAVEDATE NIL")
	u = b.ok("SEARCH SAVEDATESUPPORTED")
	has(t, u, "* SEARCH 1 2 3 4")
	u = b.ok("SEARCH SAVEDBEFORE 1-Jan-2024")
	if len(u) != 1 || u[0] != "* SEARCH" {
		t.Fatalf("savedbefore: %q", u)
	}
	u = b.ok("SEARCH BEFORE 1-Jan-2024 SAVEDSINCE 1-Jan-2024")
	has(t, u, "* SEARCH 1 2 3 4")

	// A copy made by b later gets a later SAVEDATE; a sees it.
	time.Sleep(time.Until(orig.Add(1100 * time.Millisecond)))
	b.ok("CREATE Copies")
	b.ok("COPY 2 Copies")
	a.ok("SELECT Copies")
	u = a.ok("FETCH 1 (PREVIEW SAVEDATE INTERNALDATE)")
	has(t, u, `PREVIEW "Line one line two`)
	has(t, u, `INTERNALDATE "05-Mar-2023 10:00:00 +0000"`)
	if d := saveDate(t, u[0]); !d.After(orig) || d.After(time.Now().Add(time.Second)) {
		t.Fatalf("copy: SAVEDATE %v, want after %v", d, orig)
	}
}

func TestFetchChangedSince(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 3)
	u := c.ok("FETCH 1:* (UID) (CHANGEDSINCE 1)")
	has(t, u, "MODSEQ (")
	u = c.ok(`STORE 2 +FLAGS.SILENT (\Flagged)`)
	has(t, u, "MODSEQ") // CONDSTORE is on: silent still reports MODSEQ
	var modseq int
	fmt.Sscanf(u[0][strings.Index(u[0], "MODSEQ (")+8:], "%d", &modseq)
	u = c.ok(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", modseq-1))
	if len(u) != 1 || !strings.HasPrefix(u[0], "* 2 FETCH") {
		t.Fatalf("changedsince: %q", u)
	}
	_, st := c.cmd(fmt.Sprintf(`STORE 2 (UNCHANGEDSINCE %d) +FLAGS (\Seen)`, modseq-1))
	if !strings.HasPrefix(st, "OK [MODIFIED 2]") {
		t.Fatalf("unchangedsince: %q", st)
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 3)
	other := ts.login()
	other.ok("SELECT INBOX")
	u := c.ok(`STORE 1:2 +FLAGS (\Flagged $Work)`)
	has(t, u, `* 1 FETCH (FLAGS (\Flagged $Work \Recent)`)
	u = c.ok(`STORE 1 -FLAGS.SILENT (\Flagged)`)
	if len(u) != 0 {
		t.Fatalf("silent store answered %q", u)
	}
	u = c.ok(`UID STORE 3 FLAGS \Seen \Answered`)
	has(t, u, `FLAGS (\Seen \Answered \Recent) UID 3`)
	// The other session learns at its next command.
	u = other.ok("NOOP")
	has(t, u, `* 3 FETCH (FLAGS (\Seen \Answered)`)
	has(t, u, `* 2 FETCH (FLAGS (\Flagged $Work)`)
	// A FETCH without FLAGS still ends with the news about flags.
	c.ok(`STORE 3 +FLAGS.SILENT (\Draft)`)
	u = other.ok("FETCH 3 RFC822.SIZE")
	has(t, u, `* 3 FETCH (FLAGS (\Seen \Answered \Draft)`)
	c.bad(`STORE 1 +FLAGS (\Bogus)`)
	c.bad(`STORE 1 BADITEM (\Seen)`)
	c.bad(`STORE 1 +FLAGS`)
	c.bad(`STORE 9 +FLAGS (\Seen)`)
}

func TestCopyMoveExpunge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := filled(t, ts, 4)
	other := ts.login()
	other.ok("SELECT INBOX")
	c.ok("CREATE Archive2")
	_, st := c.cmd("COPY 1:2 Archive2")
	if !strings.HasPrefix(st, "OK [COPYUID ") || !strings.Contains(st, " 1:2 1:2]") {
		t.Fatalf("copy: %q", st)
	}
	_, st = c.cmd("COPY 1 Nowhere")
	if !strings.HasPrefix(st, "NO [TRYCREATE]") {
		t.Fatalf("copy to missing: %q", st)
	}
	u, st := c.cmd("UID MOVE 3 Archive2")
	if !strings.HasPrefix(st, "OK") {
		t.Fatalf("move: %q", st)
	}
	has(t, u, "* OK [COPYUID ")
	has(t, u, "* 3 EXPUNGE")
	u = c.ok("STATUS Archive2 (MESSAGES)")
	has(t, u, "MESSAGES 3")
	// The other session: no EXPUNGE during FETCH, then at NOOP.
	u = other.ok("FETCH 1 FLAGS")
	hasNot(t, u, "EXPUNGE")
	u = other.ok("NOOP")
	has(t, u, "* 3 EXPUNGE")
	c.ok(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	u = c.ok("EXPUNGE")
	has(t, u, "* 1 EXPUNGE")
	u = c.ok("FETCH 1:* UID")
	if len(u) != 2 || !strings.Contains(u[0], "UID 2") || !strings.Contains(u[1], "UID 4") {
		t.Fatalf("after expunge: %q", u)
	}
	c.ok(`STORE 1:2 +FLAGS.SILENT (\Deleted)`)
	u = c.ok("UID EXPUNGE 4")
	has(t, u, "* 2 EXPUNGE")
	u = other.ok("NOOP")
	has(t, u, "* 1 EXPUNGE")
	c.ok("CLOSE")
	u = c.ok("STATUS INBOX (MESSAGES)")
	has(t, u, "MESSAGES 0")
	c.bad("CLOSE")
}

func TestSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	for i := 1; i <= 5; i++ {
		c.appendMsg("INBOX", "", testMessage(i))
	}
	c.appendMsg("INBOX", "", multipartMessage)
	c.ok("SELECT INBOX")
	c.ok(`STORE 2,4 +FLAGS (\Seen)`)
	cases := map[string]string{
		"SEARCH ALL":                          "* SEARCH 1 2 3 4 5 6",
		"SEARCH SEEN":                         "* SEARCH 2 4",
		"SEARCH UNSEEN NOT 6":                 "* SEARCH 1 3 5",
		"SEARCH OR 1 3":                       "* SEARCH 1 3",
		`SEARCH SUBJECT "message 3"`:          "* SEARCH 3",
		"SEARCH FROM sender5":                 "* SEARCH 5",
		`SEARCH HEADER Message-ID "<m2@"`:     "* SEARCH 2",
		`SEARCH HEADER MIME-Version ""`:       "* SEARCH 6",
		"SEARCH BODY attachment":              "* SEARCH 6",
		"SEARCH TEXT fred":                    "* SEARCH 6",
		"SEARCH LARGER 300":                   "* SEARCH 6",
		"SEARCH SENTON 7-Feb-2024":            "* SEARCH 1 2 3 4 5",
		"SEARCH SINCE 1-Jan-2000 YOUNGER 600": "* SEARCH 1 2 3 4 5 6",
		"SEARCH OLDER 600":                    "* SEARCH",
		"SEARCH CHARSET UTF-8 (TO alice) 2:3": "* SEARCH 2 3",
		"UID SEARCH UID 4:*":                  "* SEARCH 4 5 6",
		"SEARCH RECENT":                       "* SEARCH 1 2 3 4 5 6",
		"SEARCH NEW":                          "* SEARCH 1 3 5 6",
		"SEARCH OLD":                          "* SEARCH",
		"SEARCH KEYWORD $x":                   "* SEARCH",
	}
	for cmd, want := range cases {
		u := c.ok(cmd)
		if len(u) != 1 || u[0] != want {
			t.Errorf("%s: got %q, want %q", cmd, u, want)
		}
	}
	u := c.ok("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
	has(t, u, "* ESEARCH (TAG \"t")
	has(t, u, "MIN 1 MAX 6 ALL 1,3,5:6 COUNT 4")
	u = c.ok("UID SEARCH RETURN (SAVE) SEEN")
	if len(u) != 0 {
		t.Fatalf("SAVE alone answered %q", u)
	}
	u = c.ok("FETCH $ UID")
	if len(u) != 2 {
		t.Fatalf("fetch $: %q", u)
	}
	u = c.ok("SEARCH MODSEQ 1")
	has(t, u, "(MODSEQ ")
	_, st := c.cmd("SEARCH CHARSET KOI8-R ALL")
	if !strings.HasPrefix(st, "NO [BADCHARSET") {
		t.Fatalf("charset: %q", st)
	}
	c.bad("SEARCH")
	c.bad("SEARCH BOGUS")
	c.bad("SEARCH OR 1")
	c.bad("SEARCH " + strings.Repeat("NOT ", 100) + "ALL")
	c.ok("ENABLE IMAP4rev2")
	u = c.ok("SEARCH SEEN")
	has(t, u, "ALL 2,4")
}

const forwardedMessage = "From: a@example.com\r\n" +
	"Subject: fwd\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=B\r\n" +
	"\r\n" +
	"--B\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"see below\r\n" +
	"--B\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"From: inner@example.com\r\n" +
	"Subject: inner\r\n" +
	"\r\n" +
	"inner body\r\n" +
	"--B--\r\n"

func TestFetchEncapsulatedMessage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.appendMsg("INBOX", "", forwardedMessage)
	c.ok("EXAMINE INBOX")
	for item, want := range map[string]string{
		"BODY.PEEK[2.HEADER]":                  "BODY[2.HEADER] {43}\r\nFrom: inner@example.com\r\nSubject: inner\r\n\r\n",
		"BODY.PEEK[2.TEXT]":                    "BODY[2.TEXT] {10}\r\ninner body)",
		"BODY.PEEK[2.1]":                       "BODY[2.1] {10}\r\ninner body)",
		"BODY.PEEK[2.MIME]":                    "BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n",
		"BODY.PEEK[1]":                         "BODY[1] {9}\r\nsee below)",
		"BODY.PEEK[1.HEADER]":                  `BODY[1.HEADER] ""`,
		"BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]": "BODY[2.HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: inner\r\n\r\n",
	} {
		u := c.ok("FETCH 1 (" + item + ")")
		if len(u) != 1 || !strings.Contains(u[0], want) {
			t.Errorf("%s: got %q, want %q", item, u, want)
		}
	}
	u := c.ok("FETCH 1 BODYSTRUCTURE")
	has(t, u, `("MESSAGE" "RFC822"`)
	// EXAMINE: BODY[] does not set \Seen.
	u = c.ok("FETCH 1 BODY[]")
	hasNot(t, u, `\Seen`)
}

// EXAMINE shows \Recent but leaves it for the next SELECT (RFC 3501
// §6.3.2); the SELECT that claims it is the only one to see it.
func TestExamineKeepsRecent(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.appendMsg("INBOX", "", testMessage(1))
	c.appendMsg("INBOX", "", testMessage(2))
	has(t, c.ok("EXAMINE INBOX"), "* 2 RECENT")
	has(t, c.ok(`FETCH 1 (FLAGS)`), `\Recent`)
	d := ts.login()
	has(t, d.ok("SELECT INBOX"), "* 2 RECENT")
	e := ts.login()
	has(t, e.ok("EXAMINE INBOX"), "* 0 RECENT")
	has(t, e.ok("SELECT INBOX"), "* 0 RECENT")
}
