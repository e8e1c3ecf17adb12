package transfer

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Dovecot keeps three small files beside a Maildir folder that import reads
// and export writes:
//
//	dovecot-keywords  "<index> <keyword>" per line; index 0..25 is the
//	                  letter a..z in file names.
//	dovecot-uidlist   v3: a header "3 V<uidvalidity> N<nextuid> G<guid> …",
//	                  then "<uid> [<ext> …] :<file name>" per message (the
//	                  name without its ":2," info). v1: "1 <uidvalidity>
//	                  <nextuid>" and "<uid> <file name>".
//	subscriptions     (root folder only) one subscribed name per line; in
//	                  the "V\t2" form (after a blank line) the levels of a
//	                  name are separated by TAB, in the old form by the
//	                  namespace separator ('.' for Maildir++ or '/').

// maxSideFile bounds how much of a dovecot file import reads.
const maxSideFile = 64 << 20

// parseDovecotKeywords reads dovecot-keywords into an index → keyword
// table of maxMaildirKeywords entries ("" where unused).
func parseDovecotKeywords(r io.Reader) ([]string, error) {
	table := make([]string, maxMaildirKeywords)
	sc := bufio.NewScanner(io.LimitReader(r, maxSideFile))
	for sc.Scan() {
		idx, kw, ok := strings.Cut(strings.TrimRight(sc.Text(), "\r"), " ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(idx)
		kw = strings.TrimSpace(kw)
		if err != nil || n < 0 || n >= maxMaildirKeywords || !validKeyword(kw) {
			continue
		}
		table[n] = kw
	}
	return table, sc.Err()
}

// writeDovecotKeywords writes the table (index → keyword).
func writeDovecotKeywords(w io.Writer, keywords []string) error {
	for i, k := range keywords {
		if k == "" {
			continue
		}
		if _, err := fmt.Fprintf(w, "%d %s\n", i, k); err != nil {
			return err
		}
	}
	return nil
}

// uidList is a parsed dovecot-uidlist.
type uidList struct {
	UIDValidity uint32
	NextUID     uint32
	// UIDs maps a file's unique name (without info) to its UID.
	UIDs map[string]uint32
}

// parseUIDList reads a dovecot-uidlist of version 1 or 3. Lines it does
// not understand are skipped.
func parseUIDList(r io.Reader) (*uidList, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxSideFile))
	sc.Buffer(make([]byte, 4096), 1<<20)
	if !sc.Scan() {
		if sc.Err() != nil {
			return nil, sc.Err()
		}
		return nil, fmt.Errorf("dovecot-uidlist: empty")
	}
	header := strings.Fields(sc.Text())
	if len(header) == 0 {
		return nil, fmt.Errorf("dovecot-uidlist: empty header")
	}
	ul := &uidList{UIDs: make(map[string]uint32)}
	version := header[0]
	switch version {
	case "1", "2":
		if len(header) < 3 {
			return nil, fmt.Errorf("dovecot-uidlist: short v%s header", version)
		}
		ul.UIDValidity = parseUint32(header[1])
		ul.NextUID = parseUint32(header[2])
	case "3":
		for _, f := range header[1:] {
			switch {
			case strings.HasPrefix(f, "V"):
				ul.UIDValidity = parseUint32(f[1:])
			case strings.HasPrefix(f, "N"):
				ul.NextUID = parseUint32(f[1:])
			}
		}
	default:
		return nil, fmt.Errorf("dovecot-uidlist: unknown version %q", version)
	}
	if ul.UIDValidity == 0 {
		return nil, fmt.Errorf("dovecot-uidlist: no UIDVALIDITY")
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		uidText, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		uid := parseUint32(uidText)
		if uid == 0 {
			continue
		}
		var name string
		if version == "3" {
			if i := strings.IndexByte(rest, ':'); i >= 0 {
				name = rest[i+1:]
			} else {
				name = strings.TrimSpace(rest)
			}
		} else {
			name = strings.TrimSpace(rest)
		}
		if name == "" {
			continue
		}
		base, _ := splitMaildirName(name)
		ul.UIDs[base] = uid
	}
	return ul, sc.Err()
}

func parseUint32(s string) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

// writeUIDList writes a v3 dovecot-uidlist; uids maps unique names to UIDs.
func writeUIDList(w io.Writer, uidValidity, nextUID uint32, uids map[string]uint32) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "3 V%d N%d\n", uidValidity, nextUID)
	names := make([]string, 0, len(uids))
	for n := range uids {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return uids[names[i]] < uids[names[j]] })
	for _, n := range names {
		fmt.Fprintf(bw, "%d :%s\n", uids[n], n)
	}
	return bw.Flush()
}

// parseSubscriptions reads a subscriptions file. Each result is a list of
// candidate names (levels joined by '/') for one line, most likely first:
// an old-format line "a.b" may mean "a/b" (Maildir++ separator) or a
// mailbox really called "a.b"; the caller picks the one that exists.
func parseSubscriptions(r io.Reader) ([][]string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxSideFile))
	sc.Buffer(make([]byte, 4096), 1<<20)
	var (
		out   [][]string
		first = true
		v2    = false
		body  = true
	)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			first = false
			if line == "V\t2" {
				v2, body = true, false
				continue
			}
		}
		if !body {
			body = line == ""
			continue
		}
		if line == "" {
			continue
		}
		if v2 {
			levels := strings.Split(line, "\t")
			for i, l := range levels {
				levels[i] = decodeFolderLevel(l)
			}
			out = append(out, []string{strings.Join(levels, "/")})
			continue
		}
		var cands []string
		if strings.Contains(line, ".") {
			levels := strings.Split(line, ".")
			for i, l := range levels {
				levels[i] = decodeFolderLevel(l)
			}
			cands = append(cands, strings.Join(levels, "/"))
		}
		levels := strings.Split(line, "/")
		for i, l := range levels {
			levels[i] = decodeFolderLevel(l)
		}
		cands = append(cands, strings.Join(levels, "/"))
		out = append(out, cands)
	}
	return out, sc.Err()
}

// writeSubscriptions writes names ('/' separated) in the "V\t2" form.
func writeSubscriptions(w io.Writer, names []string) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("V\t2\n\n")
	for _, n := range names {
		levels := strings.Split(n, "/")
		for i, l := range levels {
			levels[i] = encodeMUTF7(l)
		}
		bw.WriteString(strings.Join(levels, "\t") + "\n")
	}
	return bw.Flush()
}

// decodeFolderLevel turns one level of an on-disk folder name into UTF-8:
// modified UTF-7 when valid (Dovecot's default) and "\2e"-style escapes
// (Dovecot's listescape, which export uses for '.' and '\' inside a level).
func decodeFolderLevel(s string) string {
	if d, ok := decodeMUTF7(s); ok {
		s = d
	}
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeFolderLevel is the inverse of decodeFolderLevel for export.
func encodeFolderLevel(s string) string {
	s = strings.ReplaceAll(s, `\`, `\5c`)
	s = strings.ReplaceAll(s, ".", `\2e`)
	return encodeMUTF7(s)
}

// maildirPlusPath turns a mailbox name ("a/b") into a Maildir++ folder
// directory name (".a.b"); INBOX is the root ("").
func maildirPlusPath(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return ""
	}
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = encodeFolderLevel(l)
	}
	return "." + strings.Join(levels, ".")
}
