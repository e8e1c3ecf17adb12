package dovecotdiff

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// allowed is one known, justified difference. It applies to one
// transcript, or to all when transcript is "*", and works in one of three
// ways: erase deletes whole matching lines and strip deletes matching text
// inside lines, on one side (side "postern" or "dovecot") or both (side
// ""), before the sides are compared again; lines accepts remaining
// changed diff lines ("-S: …" for Dovecot, "+S: …" for postern) that match;
// with pair set as well, a matching line is only accepted when it is one of
// an equal number of removed and added lines and pair accepts each
// (Dovecot, postern) couple in order.
type allowed struct {
	transcript string
	side       string
	erase      *regexp.Regexp
	strip      *regexp.Regexp
	lines      *regexp.Regexp
	pair       func(dovecot, postern string) bool
	reason     string
}

// allowList holds the differences the test does not fail on. Each entry
// says why the difference is legitimate: a freedom the RFCs leave, a
// Dovecot deviation, or a server-specific extension. postern bugs are not
// listed here; they stay visible until they are fixed.
var allowList = []allowed{
	{transcript: "fetch-body", lines: bodyLine, pair: linesPlusOne, reason: partialLineReason},
	{transcript: "fetch-bodystructure", lines: bodyLine, pair: linesPlusOne, reason: partialLineReason},
	{transcript: "fetch-macros", lines: bodyLine, pair: linesPlusOne, reason: partialLineReason},
	{transcript: "*", lines: regexp.MustCompile(`^\+S: \* OK \[MAILBOXID \(<id>\)\]$`),
		reason: "postern implements OBJECTID (RFC 8474) and sends MAILBOXID on SELECT; Dovecot 2.3 does not"},
	{transcript: "*", lines: regexp.MustCompile(`^\+S: \* OK \[HIGHESTMODSEQ <modseq>\]$`),
		reason: "RFC 7162 §3.1.2.1: a server with persistent mod-sequences sends HIGHESTMODSEQ on every SELECT/EXAMINE; Dovecot only once CONDSTORE was used on the mailbox"},
	{transcript: "move", lines: regexp.MustCompile(`^-S: \* \d+ RECENT$`),
		reason: "Dovecot re-announces RECENT after expunges; RFC 3501 §7.3.2 only requires it on SELECT and on new mail (IMAP4rev2 drops RECENT)"},
	{transcript: "uid-expunge", lines: regexp.MustCompile(`^-S: \* \d+ RECENT$`),
		reason: "Dovecot re-announces RECENT after expunges; RFC 3501 §7.3.2 only requires it on SELECT and on new mail (IMAP4rev2 drops RECENT)"},
	{transcript: "list-select-special-use", side: "postern", strip: regexp.MustCompile(` \\HASNOCHILDREN|\\HASNOCHILDREN `),
		reason: "child attributes without the CHILDREN return option are optional (RFC 5258 §4); postern always sends them"},
	{transcript: "list-subscribed", side: "postern", strip: regexp.MustCompile(` \\HASNOCHILDREN|\\HASNOCHILDREN | \\(ARCHIVE|DRAFTS|JUNK|SENT|TRASH)|\\(ARCHIVE|DRAFTS|JUNK|SENT|TRASH) `),
		reason: "child and special-use attributes on LIST (SUBSCRIBED) are optional (RFC 5258 §4, RFC 6154 §2); postern sends them, Dovecot does not"},
	{transcript: "lsub", side: "dovecot", strip: regexp.MustCompile(`\\(ARCHIVE|DRAFTS|JUNK|SENT|TRASH)`),
		reason: "RFC 6154 asks for special-use attributes in LIST only; Dovecot also puts them in LSUB (removed in IMAP4rev2)"},
	{transcript: "*", side: "dovecot", strip: regexp.MustCompile(` \[CLIENTBUG\]$`),
		reason: "Dovecot adds a CLIENTBUG hint when STATUS names the selected mailbox (RFC 9051 §6.3.11 only discourages it)"},
	{transcript: "status-missing", lines: regexp.MustCompile(`^[-+]S: TAG NO( \[NONEXISTENT\])?$`),
		reason: "postern adds the RFC 5530 NONEXISTENT code to STATUS of a missing mailbox; Dovecot 2.3 sends a plain NO"},
	{transcript: "select-missing", lines: regexp.MustCompile(`^[-+]S: TAG NO( \[NONEXISTENT\])?$`),
		reason: "postern adds the RFC 5530 NONEXISTENT code to SELECT of a missing mailbox; Dovecot 2.3 sends a plain NO"},
	{transcript: "create-existing", lines: regexp.MustCompile(`^[-+]S: TAG NO( \[CANNOT\])?$`),
		reason: "postern adds the RFC 5530 CANNOT code to DELETE INBOX; Dovecot sends a plain NO"},
	{transcript: "search-bad", lines: regexp.MustCompile(`^[-+]S: TAG NO \[BADCHARSET( \(.*\))?\]$`),
		reason: "the list of supported charsets in BADCHARSET is optional (RFC 9051 §7.1)"},
	{transcript: "enable-unknown", lines: regexp.MustCompile(`^\+S: \* ENABLED$`),
		reason: "an empty ENABLED response is grammatical (RFC 5161 §4); Dovecot omits it"},
	{transcript: "enable-qresync", lines: regexp.MustCompile(`^[-+]S: \* 6 FETCH \(FLAGS \(\) MODSEQ \(<modseq>\)( UID 6)?\)$`),
		reason: "with QRESYNC enabled postern includes UID in every FETCH response, as RFC 7162's QRESYNC section asks (Apache James does the same); Dovecot only where requested"},
	{transcript: "fetch-edge-sections", lines: regexp.MustCompile(`^(-S: \* 1 FETCH \(BODY\[0\] ""\)|-S: TAG OK|\+S: TAG BAD)$`),
		reason: "Dovecot deviation: it accepts BODY[0], but section-part is nz-number (RFC 9051 §9), so postern's BAD is right"},
	{transcript: "search-decoded", lines: regexp.MustCompile(`^[-+]S: \* SEARCH( 2)?$`),
		reason: "TEXT over the MIME header of an application/pdf part: RFC 9051 §6.4.4 lets servers leave non-text parts out of SEARCH; Dovecot searches every part header"},
	{transcript: "list-patterns", side: "postern", strip: regexp.MustCompile(` \\(ARCHIVE|DRAFTS|JUNK|SENT|TRASH)|\\(ARCHIVE|DRAFTS|JUNK|SENT|TRASH) `),
		reason: "special-use attributes in an extended LIST without the SPECIAL-USE return option are optional (RFC 6154 §2); postern sends them"},
	{transcript: "list-patterns", lines: regexp.MustCompile(`^-S: \* LIST \(\\ARCHIVE \\HASNOCHILDREN\) "/" Archive$`),
		reason: "LIST with a reference that does not end in the delimiter is implementation-dependent (RFC 3501 §6.3.8): Dovecot reads \"Archive\" \"*\" as Archive*, postern as Archive/*"},
	{transcript: "store-bad-flags", lines: regexp.MustCompile(`^(-S: TAG BAD|\+S: TAG OK|\+S: \* 1 FETCH \(FLAGS \(\\SEEN\)\))$`),
		reason: "STORE of \\Recent: clients cannot change it (RFC 3501 §2.3.2) but no answer is prescribed; postern ignores it and answers OK, Dovecot answers BAD"},
	{transcript: "fetch-changedsince-without-condstore", lines: regexp.MustCompile(`^-S: \* OK \[HIGHESTMODSEQ <modseq>\]$`),
		reason: "Dovecot enables CONDSTORE (and announces HIGHESTMODSEQ) on a CHANGEDSINCE FETCH even when the command then fails with BAD for VANISHED"},
	{transcript: "rename-inbox", lines: regexp.MustCompile(`^[-+]S: (TAG OK|TAG NO( \[CANNOT\])?|\* STATUS (INBOX|Old) \(.*\)|\* LIST \(.*\) "/" Old)$`),
		reason: "Dovecot deviation: Maildir++ INBOX cannot be renamed (NO [CANNOT]); RFC 9051 §6.3.6 defines RENAME INBOX as moving its messages, which postern does"},
	{transcript: "search-text-body", lines: regexp.MustCompile(`^[-+]S: \* SEARCH( 4)?$`),
		reason: "BODY over a message/rfc822 part: postern searches the embedded header too (it is part of the outer body, RFC 9051 §6.4.4); Dovecot only searches text content"},
	{transcript: "create-rename-delete", lines: regexp.MustCompile(`^[-+]S: (\* LIST \(\\HASCHILDREN( \\NOSELECT)?\) "/" Projects(/2024|/Done)?|\* LIST \(\\HASNOCHILDREN\) "/" Projects|TAG OK|TAG NO \[NONEXISTENT\])$`),
		reason: "CREATE a/b/c: postern creates real parent mailboxes (RFC 9051 §6.3.4 SHOULD), Dovecot's Maildir leaves \\NoSelect placeholders that DELETE then cannot find"},
	{transcript: "examine-readonly-store", lines: regexp.MustCompile(`^[-+]S: TAG (OK|NO \[READ-ONLY\])$`),
		reason: "Dovecot deviation: it answers OK to STORE and EXPUNGE in an EXAMINEd mailbox and changes nothing; postern refuses with NO [READ-ONLY]"},
}

// allowedDiff erases what the allow-list lets each side have on its own,
// compares again, and reports whether the remaining changed lines all
// match allowed line patterns, with the reasons used and the diff left
// after erasing and stripping.
func allowedDiff(name string, dovecot, postern []string) ([]string, string, bool) {
	used := map[string]bool{}
	apply := func(side string, lines []string) []string {
		var out []string
	next:
		for _, l := range lines {
			for _, a := range allowList {
				if (a.transcript != name && a.transcript != "*") || (a.side != "" && a.side != side) {
					continue
				}
				if a.erase != nil && a.erase.MatchString(l) {
					used[a.reason] = true
					continue next
				}
				if a.strip != nil && a.strip.MatchString(l) {
					used[a.reason] = true
					l = a.strip.ReplaceAllString(l, "")
				}
			}
			out = append(out, l)
		}
		return resortUntagged(out)
	}
	d, p := apply("dovecot", dovecot), apply("postern", postern)
	residual, changed := unifiedDiff(d, p)
	var minus, plus []string
	for _, l := range changed {
		if l[0] == '-' {
			minus = append(minus, l[1:])
		} else {
			plus = append(plus, l[1:])
		}
	}
	for _, l := range changed {
		ok := false
		for _, a := range allowList {
			if a.lines == nil || (a.transcript != name && a.transcript != "*") || !a.lines.MatchString(l) {
				continue
			}
			if a.pair != nil && !pairsAccepted(minus, plus, a) {
				continue
			}
			used[a.reason] = true
			ok = true
			break
		}
		if !ok {
			return nil, residual, false
		}
	}
	var reasons []string
	for r := range used {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	return reasons, residual, true
}

// unusedAllowances lists allow-list reasons no transcript needed, so stale
// entries show up in the report.
func unusedAllowances(used map[string]bool) []string {
	var out []string
	for _, a := range allowList {
		if !used[a.reason] {
			out = append(out, a.transcript+": "+strings.SplitN(a.reason, ";", 2)[0])
		}
	}
	return out
}

// resortUntagged sorts each run of untagged server lines again after
// stripping changed them (the same rule as normalizer.responses).
func resortUntagged(lines []string) []string {
	start := 0
	for i := 0; i <= len(lines); i++ {
		if i == len(lines) || !strings.HasPrefix(lines[i], "S: * ") ||
			strings.HasSuffix(lines[i], " EXPUNGE") || strings.HasPrefix(lines[i], "S: * VANISHED") {
			sort.Strings(lines[start:i])
			start = i + 1
		}
	}
	return lines
}

// bodyLine matches BODY and BODYSTRUCTURE FETCH lines in a diff.
var bodyLine = regexp.MustCompile(`^[-+]S: \* \d+ FETCH \(.*BODY(STRUCTURE)? \(`)

const partialLineReason = "body-fld-lines of a part whose last line is cut by the boundary (RFC 2046 §5.1.1 gives that CRLF to the delimiter): postern counts the unterminated last line, Dovecot counts CRLFs; RFC 9051 does not define it"

// pairsAccepted applies a.pair to the removed and added lines of a diff
// that a.lines selects, in order.
func pairsAccepted(minus, plus []string, a allowed) bool {
	var m, p []string
	for _, l := range minus {
		if a.lines.MatchString("-" + l) {
			m = append(m, l)
		}
	}
	for _, l := range plus {
		if a.lines.MatchString("+" + l) {
			p = append(p, l)
		}
	}
	if len(m) != len(p) {
		return false
	}
	for i := range m {
		if !a.pair(m[i], p[i]) {
			return false
		}
	}
	return true
}

var tokenSplit = regexp.MustCompile(`[ ()]+`)

// linesPlusOne accepts two BODY/BODYSTRUCTURE lines that are equal token
// for token except for numbers where postern's is Dovecot's plus one (the
// partial-line count); sizes and everything else must match.
func linesPlusOne(d, p string) bool {
	dt, pt := tokenSplit.Split(d, -1), tokenSplit.Split(p, -1)
	if len(dt) != len(pt) {
		return false
	}
	for i := range dt {
		if dt[i] == pt[i] {
			continue
		}
		x, err1 := strconv.Atoi(dt[i])
		y, err2 := strconv.Atoi(pt[i])
		if err1 != nil || err2 != nil || y != x+1 {
			return false
		}
	}
	return true
}
