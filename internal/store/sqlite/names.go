package sqlite

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/postern/postern/internal/store"
)

// maxNameLen bounds a mailbox name in octets.
const maxNameLen = 1000

// normMailboxName checks a mailbox name and returns its stored form:
// UTF-8, '/' separated, no empty component (so no leading, trailing or
// doubled separator), no control characters. A first component that is
// "INBOX" in any case becomes "INBOX" (RFC 9051 §5.1: INBOX is
// case-insensitive), so "inbox/Lists" is "INBOX/Lists".
func normMailboxName(name string) (string, error) {
	if name == "" || len(name) > maxNameLen || !utf8.ValidString(name) || name[0] == store.Separator {
		return "", store.ErrInvalidName
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return "", store.ErrInvalidName
		}
	}
	parts := strings.Split(name, string(store.Separator))
	for _, p := range parts {
		if p == "" {
			return "", store.ErrInvalidName
		}
	}
	if strings.EqualFold(parts[0], "INBOX") && parts[0] != "INBOX" {
		parts[0] = "INBOX"
		name = strings.Join(parts, string(store.Separator))
	}
	return name, nil
}

// parentNames lists the ancestors of a name, outermost first:
// "a/b/c" → ["a", "a/b"].
func parentNames(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == store.Separator {
			out = append(out, name[:i])
		}
	}
	return out
}

// subtreeRange gives the bounds [lo, hi) that, compared byte-wise, hold
// exactly the names below name ("a" → ["a/", "a0")).
func subtreeRange(name string) (lo, hi string) {
	return name + string(store.Separator), name + string(store.Separator+1)
}

var specialUses = map[string]bool{
	"": true, `\Drafts`: true, `\Sent`: true, `\Trash`: true, `\Junk`: true,
	`\Archive`: true, `\All`: true, `\Flagged`: true,
}

// normSpecialUse matches a special-use attribute case-insensitively
// (RFC 6154) and returns its canonical spelling, or false.
func normSpecialUse(s string) (string, bool) {
	for k := range specialUses {
		if strings.EqualFold(k, s) {
			return k, true
		}
	}
	return "", false
}
