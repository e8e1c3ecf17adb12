package config

import (
	"strings"
)

// lineIndex maps a full key (pieces joined by NUL) to the line where it is
// first defined. toml.MetaData does not expose key positions, so a light
// scan of the source finds them; it is best-effort (good for every document
// a person writes, never wrong about the key name itself).
type lineIndex map[string]int

func joinKey(k []string) string { return strings.Join(k, "\x00") }

// find returns the line of k, or of its longest defined prefix, or 0.
func (ix lineIndex) find(k []string) int {
	for n := len(k); n > 0; n-- {
		if l, ok := ix[joinKey(k[:n])]; ok {
			return l
		}
	}
	return 0
}

// keyLines scans a TOML document for table headers and key/value lines.
func keyLines(src string) lineIndex {
	ix := lineIndex{}
	var table []string
	depth := 0    // open [ or { of a value spanning lines
	inMulti := "" // `"""` or `'''` while inside a multi-line string
	for n, line := range strings.Split(src, "\n") {
		lineNo := n + 1
		s := line
		if inMulti != "" {
			i := strings.Index(s, inMulti)
			if i < 0 {
				continue
			}
			s = s[i+3:]
			inMulti = ""
			depth, inMulti = scanValue(s, depth)
			continue
		}
		if depth > 0 {
			depth, inMulti = scanValue(s, depth)
			continue
		}
		t := strings.TrimSpace(s)
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			h := strings.TrimPrefix(t, "[")
			h = strings.TrimPrefix(h, "[")
			if i := strings.IndexByte(h, ']'); i >= 0 {
				h = h[:i]
			}
			table = splitKey(h)
			if _, ok := ix[joinKey(table)]; !ok {
				ix[joinKey(table)] = lineNo
			}
			continue
		}
		eq := keyEnd(t)
		if eq < 0 {
			continue
		}
		full := append(append([]string{}, table...), splitKey(t[:eq])...)
		for i := len(table) + 1; i <= len(full); i++ {
			if _, ok := ix[joinKey(full[:i])]; !ok {
				ix[joinKey(full[:i])] = lineNo
			}
		}
		depth, inMulti = scanValue(t[eq+1:], 0)
	}
	return ix
}

// keyEnd returns the index of the '=' ending the key of a key/value line,
// or -1.
func keyEnd(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// splitKey splits a dotted key, honouring quoted pieces.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		case c == ' ' || c == '\t':
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

// scanValue follows brackets and strings through the rest of a line and
// returns the bracket depth left open and whether a multi-line string is
// open.
func scanValue(s string, depth int) (int, string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '#':
			return depth, ""
		case '[', '{':
			depth++
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '"', '\'':
			delim := string([]byte{c, c, c})
			if strings.HasPrefix(s[i:], delim) {
				j := strings.Index(s[i+3:], delim)
				if j < 0 {
					return depth, delim
				}
				i += 3 + j + 2
				continue
			}
			for i++; i < len(s) && s[i] != c; i++ {
				if c == '"' && s[i] == '\\' {
					i++
				}
			}
		}
	}
	return depth, ""
}
