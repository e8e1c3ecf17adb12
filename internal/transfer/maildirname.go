package transfer

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// Maildir file names are "unique[:2,FLAGS]" (cr.yp.to/proto/maildir.html):
// the info after ":2," lists one letter per flag in ASCII order. Upper-case
// letters are the standard flags; Dovecot uses the lower-case letters a..z
// for keywords, indexing the folder's dovecot-keywords file (a is 0). Some
// systems that cannot have ':' in a file name use '!' or ';' instead.
//
//	D Draft  → \Draft       R Replied → \Answered
//	F Flagged → \Flagged    S Seen    → \Seen
//	P Passed → $Forwarded   T Trashed → \Deleted
//
// Export writes $Forwarded both as P and as a keyword letter, since
// Dovecot does not read P.

// maxMaildirKeywords is how many keywords one folder can name (a..z).
const maxMaildirKeywords = 26

// splitMaildirName splits a file name into its unique part and the info
// after the separator ("2,FS"); info is "" when there is none.
func splitMaildirName(name string) (base, info string) {
	for _, sep := range []byte{':', '!', ';'} {
		i := strings.LastIndexByte(name, sep)
		if i < 0 {
			continue
		}
		rest := name[i+1:]
		if strings.HasPrefix(rest, "2,") || strings.HasPrefix(rest, "1,") {
			return name[:i], rest
		}
	}
	return name, ""
}

// parseMaildirInfo maps the info part of a file name to flags; keywords
// is the folder's dovecot-keywords table (index → keyword).
func parseMaildirInfo(info string, keywords []string) []string {
	if !strings.HasPrefix(info, "2,") {
		return nil
	}
	var flags []string
	for i := 2; i < len(info); i++ {
		c := info[i]
		switch {
		case c == 'D':
			flags = append(flags, store.FlagDraft)
		case c == 'F':
			flags = append(flags, store.FlagFlagged)
		case c == 'P':
			flags = append(flags, keywordForwarded)
		case c == 'R':
			flags = append(flags, store.FlagAnswered)
		case c == 'S':
			flags = append(flags, store.FlagSeen)
		case c == 'T':
			flags = append(flags, store.FlagDeleted)
		case c >= 'a' && c <= 'z':
			if k := int(c - 'a'); k < len(keywords) && keywords[k] != "" {
				flags = append(flags, keywords[k])
			}
		}
	}
	return normalizeFlags(flags)
}

// formatMaildirInfo renders flags as the info part ("2,FRS"). keywordIndex
// maps lower-cased keywords to their dovecot-keywords index; keywords it
// does not hold are left out and counted in dropped.
func formatMaildirInfo(flags []string, keywordIndex map[string]int) (info string, dropped int) {
	var letters []byte
	for _, f := range flags {
		switch strings.ToLower(f) {
		case `\draft`:
			letters = append(letters, 'D')
		case `\flagged`:
			letters = append(letters, 'F')
		case strings.ToLower(keywordForwarded):
			// P for mutt and the Maildir spec; Dovecot ignores P, so the
			// keyword gets its letter too when the folder has one.
			letters = append(letters, 'P')
			if k, ok := keywordIndex[strings.ToLower(f)]; ok && k < maxMaildirKeywords {
				letters = append(letters, byte('a'+k))
			}
		case `\answered`:
			letters = append(letters, 'R')
		case `\seen`:
			letters = append(letters, 'S')
		case `\deleted`:
			letters = append(letters, 'T')
		default:
			if strings.HasPrefix(f, `\`) {
				continue
			}
			if k, ok := keywordIndex[strings.ToLower(f)]; ok && k < maxMaildirKeywords {
				letters = append(letters, byte('a'+k))
			} else {
				dropped++
			}
		}
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	// Remove duplicates (a flag given twice in different case).
	out := letters[:0]
	for i, c := range letters {
		if i == 0 || c != letters[i-1] {
			out = append(out, c)
		}
	}
	return "2," + string(out), dropped
}

// maildirNameTime reads the delivery time at the start of a unique name
// ("1700000000.M1P2.host" → 1700000000 s).
func maildirNameTime(base string) (time.Time, bool) {
	end := strings.IndexByte(base, '.')
	if end <= 0 || end > 12 {
		return time.Time{}, false
	}
	secs, err := strconv.ParseInt(base[:end], 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

// maildirDate picks a message's INTERNALDATE. Dovecot sets a file's mtime
// to the INTERNALDATE, so mtime wins; but a copy that did not keep mtimes
// (cp without -p) leaves them all at the copy time, so when mtime is more
// than a day after the delivery time in the name, the name's time is used.
func maildirDate(mtime time.Time, base string) time.Time {
	named, ok := maildirNameTime(base)
	if !ok {
		return mtime
	}
	if mtime.IsZero() || mtime.After(named.Add(24*time.Hour)) {
		return named
	}
	return mtime
}
