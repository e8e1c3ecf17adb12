package transfer

import (
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/store"
)

// Flags in mbox files live in header fields that mail programs add to the
// stored copy (they are mailbox state, not part of the message as sent):
//
//	Status: R (read, \Seen) O (old: no longer \Recent)
//	X-Status: A (\Answered) F (\Flagged) T (\Draft) D (\Deleted)
//	X-Keywords: keywords separated by spaces or commas
//	X-Mozilla-Status: Thunderbird's hex bit field (1 read, 2 replied,
//	  4 marked, 8 expunged, 0x1000 forwarded), X-Mozilla-Keys: keywords
//	X-IMAPbase: <uidvalidity> <uidnext> <keywords> (first message only),
//	X-UID: <uid>   Dovecot's and UW-IMAP's UID state
//
// These are the conventions of mutt, Dovecot's mbox and Thunderbird. Import
// reads them into flags and removes them, together with the other
// mailbox-state fields (X-Mozilla-Status2, X-IMAP), so a message imported
// from an mbox has the bytes it had before a mail program stored it; with
// a UIDPreserver store X-IMAPbase and X-UID keep UIDVALIDITY and UIDs.
// Export adds X-IMAPbase, X-UID, Status, X-Status and X-Keywords at the end
// of the header (so Dovecot reads the flags, keywords and UIDs too); import
// removes them again, so import(export(x)) is x. The one case that does not
// round-trip is a message whose own header (as sent) carried one of these
// fields: it is dropped on import. Content-Length is removed only when the
// splitter used it to find the end of the body (mboxcl2, see mboxSplitter):
// otherwise it may be the message's own.

// maxHeaderBlock bounds the header block import inspects; a larger header
// is passed through untouched (and yields no flags).
const maxHeaderBlock = 1 << 20

// mboxMetaField reports whether a header field name is mailbox state.
func mboxMetaField(name string) bool {
	switch strings.ToLower(name) {
	case "status", "x-status", "x-keywords", "x-mozilla-status", "x-mozilla-status2",
		"x-mozilla-keys", "x-uid", "x-imap", "x-imapbase":
		return true
	}
	return false
}

// mboxMeta is the mailbox state an mbox message's header carries.
type mboxMeta struct {
	flags []string
	// uid is X-UID; uidValidity and uidNext come from X-IMAPbase, which
	// Dovecot (and UW-IMAP) put in the first message of a file.
	uid                  uint32
	uidValidity, uidNext uint32
}

// readMboxMeta reads the header block of a message from r, collects the
// state its mailbox-state fields carry and returns a reader for the message
// without those fields (with them, when keep is set).
//
// dropCL, when not nil, is asked once the header is read whether the
// splitter used the Content-Length field to find the body's end (mboxcl2);
// the field was then written by the mbox writer and is removed too.
func readMboxMeta(r io.Reader, keep bool, dropCL func() bool) (io.Reader, mboxMeta, error) {
	lr := newLineReader(r, 8<<10)
	var block []byte
	for {
		frag, start, complete, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, mboxMeta{}, err
		}
		block = append(block, frag...)
		if start && complete && isBlankLine(frag) {
			break
		}
		if len(block) > maxHeaderBlock {
			return io.MultiReader(bytes.NewReader(block), lr.br), mboxMeta{}, nil
		}
	}
	kept, meta := filterMboxMeta(block, keep, !keep && dropCL != nil && dropCL())
	return io.MultiReader(bytes.NewReader(kept), lr.br), meta, nil
}

// filterMboxMeta splits a header block into fields (a field is a line and
// the lines starting with white space that continue it, RFC 5322 §2.2.3),
// reads the mailbox-state ones into flags and drops them unless keep.
func filterMboxMeta(block []byte, keep, dropCL bool) ([]byte, mboxMeta) {
	var (
		meta mboxMeta
		out  = make([]byte, 0, len(block))
	)
	for len(block) > 0 {
		end := fieldEnd(block)
		field := block[:end]
		block = block[end:]
		colon := bytes.IndexByte(field, ':')
		var name string
		if colon > 0 {
			name = strings.ToLower(string(bytes.TrimRight(field[:colon], " \t")))
		}
		if dropCL && name == "content-length" {
			continue
		}
		if !mboxMetaField(name) {
			out = append(out, field...)
			continue
		}
		value := strings.Join(strings.Fields(string(field[colon+1:])), " ")
		switch name {
		case "x-uid":
			meta.uid = parseUint32(value)
		case "x-imapbase":
			// "<uidvalidity> <uidnext> [keyword …]"
			if f := strings.Fields(value); len(f) >= 2 {
				meta.uidValidity, meta.uidNext = parseUint32(f[0]), parseUint32(f[1])
			}
		default:
			meta.flags = append(meta.flags, mboxMetaFlags(name, value)...)
		}
		if keep {
			out = append(out, field...)
		}
	}
	meta.flags = normalizeFlags(meta.flags)
	return out, meta
}

// fieldEnd returns the length of the first field of block, continuation
// lines included.
func fieldEnd(block []byte) int {
	i := 0
	for {
		nl := bytes.IndexByte(block[i:], '\n')
		if nl < 0 {
			return len(block)
		}
		i += nl + 1
		if i >= len(block) || (block[i] != ' ' && block[i] != '\t') {
			return i
		}
	}
}

// mboxMetaFlags maps one mailbox-state field to flags.
func mboxMetaFlags(name, value string) []string {
	var flags []string
	switch name {
	case "status":
		if strings.ContainsRune(value, 'R') {
			flags = append(flags, store.FlagSeen)
		}
	case "x-status":
		for _, c := range value {
			switch c {
			case 'A':
				flags = append(flags, store.FlagAnswered)
			case 'F':
				flags = append(flags, store.FlagFlagged)
			case 'T':
				flags = append(flags, store.FlagDraft)
			case 'D':
				flags = append(flags, store.FlagDeleted)
			}
		}
	case "x-keywords", "x-mozilla-keys":
		for _, k := range strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
			if validKeyword(k) {
				flags = append(flags, k)
			}
		}
	case "x-mozilla-status":
		bits, err := strconv.ParseUint(strings.TrimSpace(value), 16, 32)
		if err != nil {
			break
		}
		for _, m := range []struct {
			bit  uint64
			flag string
		}{{0x1, store.FlagSeen}, {0x2, store.FlagAnswered}, {0x4, store.FlagFlagged}, {0x8, store.FlagDeleted}, {0x1000, keywordForwarded}} {
			if bits&m.bit != 0 {
				flags = append(flags, m.flag)
			}
		}
	}
	return flags
}

// keywordForwarded is the RFC 5788 keyword for a forwarded message.
const keywordForwarded = "$Forwarded"

// mboxMetaLines renders flags as the header fields export adds, each ended
// by eol, with X-UID when uid > 0 and X-IMAPbase when imapBase is set (the
// first message of a file: "<uidvalidity> <uidnext> <keywords>"; Dovecot
// reads only the keywords listed there).
func mboxMetaLines(flags []string, eol string, uid store.UID, imapBase string) []byte {
	var status, xstatus strings.Builder
	var keywords []string
	status.WriteString("Status: ")
	for _, f := range flags {
		switch strings.ToLower(f) {
		case `\seen`:
			status.WriteByte('R')
		}
	}
	status.WriteByte('O')
	// Dovecot's order: A F T D.
	for _, m := range []struct {
		flag   string
		letter byte
	}{{store.FlagAnswered, 'A'}, {store.FlagFlagged, 'F'}, {store.FlagDraft, 'T'}, {store.FlagDeleted, 'D'}} {
		if hasFlag(flags, m.flag) {
			xstatus.WriteByte(m.letter)
		}
	}
	for _, f := range flags {
		if !strings.HasPrefix(f, `\`) {
			keywords = append(keywords, f)
		}
	}
	var b bytes.Buffer
	if imapBase != "" {
		b.WriteString("X-IMAPbase: " + imapBase + eol)
	}
	if uid > 0 {
		b.WriteString("X-UID: " + strconv.FormatUint(uint64(uid), 10) + eol)
	}
	b.WriteString(status.String() + eol)
	if xstatus.Len() > 0 {
		b.WriteString("X-Status: " + xstatus.String() + eol)
	}
	if len(keywords) > 0 {
		b.WriteString("X-Keywords: " + strings.Join(keywords, " ") + eol)
	}
	return b.Bytes()
}

func hasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

// validKeyword reports whether k can be an IMAP keyword: an atom (RFC 9051
// §9, flag-keyword) that is not a system flag.
func validKeyword(k string) bool {
	if k == "" || len(k) > 200 || k[0] == '\\' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// normalizeFlags removes duplicates (case-insensitively) and drops \Recent,
// which the store derives itself.
func normalizeFlags(flags []string) []string {
	var out []string
	for _, f := range flags {
		if strings.EqualFold(f, `\Recent`) || hasFlag(out, f) {
			continue
		}
		out = append(out, f)
	}
	return out
}
