package message

import "strings"

// BaseSubject extracts the RFC 5256 §2.1 base subject of a decoded Subject
// (Headers.Subject): reply and forward markers ("Re:", "Fwd:", "[list]
// Re:", trailing "(fwd)", "[Fwd: ...]") removed and white space folded.
// isReplyOrForward reports whether any such marker was found, which
// THREAD=ORDEREDSUBJECT and REFERENCES need. Comparisons of the result use
// the i;unicode-casemap collation; folding case is left to the caller.
// SORT and THREAD call it; it is safe for concurrent use.
func BaseSubject(subject string) (base string, isReplyOrForward bool) {
	s := strings.Join(strings.Fields(subject), " ") // step 1
	for {
		// Step 2: remove trailing "(fwd)" and white space.
		for {
			s = strings.TrimRight(s, " ")
			if len(s) >= 5 && strings.EqualFold(s[len(s)-5:], "(fwd)") {
				s = s[:len(s)-5]
				isReplyOrForward = true
				continue
			}
			break
		}
		// Steps 3-5: subj-leader and subj-blob prefixes.
		for {
			before := s
			s = strings.TrimLeft(s, " ")
			if rest, ok := cutRefwd(s); ok {
				s = rest
				isReplyOrForward = true
			} else if rest, ok := cutBlob(s); ok && strings.TrimSpace(rest) != "" {
				s = rest
			}
			if s == before {
				break
			}
		}
		// Step 6: "[fwd: ... ]" wrapper.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			isReplyOrForward = true
			continue
		}
		return strings.TrimSpace(s), isReplyOrForward
	}
}

// cutBlob removes a leading subj-blob: "[" *BLOBCHAR "]" *WSP.
func cutBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

// cutRefwd removes a leading subj-leader "*subj-blob subj-refwd", where
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func cutRefwd(s string) (string, bool) {
	rest := s
	for {
		r, ok := cutBlob(rest)
		if !ok {
			break
		}
		rest = r
	}
	lower := asciiLower(rest)
	switch {
	case strings.HasPrefix(lower, "re"):
		rest = rest[2:]
	case strings.HasPrefix(lower, "fwd"):
		rest = rest[3:]
	case strings.HasPrefix(lower, "fw"):
		rest = rest[2:]
	default:
		return s, false
	}
	rest = strings.TrimLeft(rest, " ")
	if r, ok := cutBlob(rest); ok {
		rest = r
	}
	if !strings.HasPrefix(rest, ":") {
		return s, false
	}
	return rest[1:], true
}

// FirstAddress returns the first mailbox of an address field value (a
// Headers field, or a raw header value): its display name with encoded-words
// decoded, its local part and its domain. Group markers are skipped; ok is
// false when the field has no mailbox. SORT uses the mailbox for FROM/TO/CC
// keys (RFC 5256 §3) and the name for DISPLAYFROM/DISPLAYTO (RFC 5957).
func FirstAddress(field string) (name, mailbox, host string, ok bool) {
	for _, a := range parseAddressList(field) {
		if a.kind != addrMailbox {
			continue
		}
		mailbox, host = a.mailbox, a.host
		if mailbox == "MISSING_MAILBOX" {
			mailbox = ""
		}
		if host == "MISSING_DOMAIN" {
			host = ""
		}
		return decodeWords(a.name), mailbox, host, true
	}
	return "", "", "", false
}
