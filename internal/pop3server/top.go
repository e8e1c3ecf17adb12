package pop3server

import (
	"bytes"
	"errors"
	"io"
)

// errTopDone stops the copy of a message once TOP has sent enough.
var errTopDone = errors.New("top: enough lines")

// topWriter passes a message through until the end of its header (the
// first empty line, RFC 5322 §2.1) and then n more lines (RFC 1939 §7,
// TOP). It then reports errTopDone; what it passed on is a prefix of the
// message ending at a line end.
type topWriter struct {
	w        io.Writer
	inHeader bool
	left     int  // body lines still to send
	lineLen  int  // octets of the current line so far
	onlyCR   bool // the current line so far is a lone CR
}

func newTopWriter(w io.Writer, lines int) *topWriter {
	return &topWriter{w: w, inHeader: true, left: lines}
}

func (t *topWriter) Write(p []byte) (int, error) {
	if !t.inHeader && t.left == 0 {
		return 0, errTopDone
	}
	i := 0 // p[:i] is accepted so far
	for i < len(p) {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			rest := p[i:]
			if t.lineLen == 0 && len(rest) == 1 && rest[0] == '\r' {
				t.onlyCR = true
			} else {
				t.onlyCR = false
			}
			t.lineLen += len(rest)
			i = len(p)
			break
		}
		empty := t.lineLen == 0 && (j == 0 || j == 1 && p[i] == '\r') || t.lineLen == 1 && t.onlyCR && j == 0
		i += j + 1
		t.lineLen, t.onlyCR = 0, false
		if t.inHeader {
			if empty {
				t.inHeader = false
				if t.left == 0 {
					break
				}
			}
			continue
		}
		t.left--
		if t.left == 0 {
			break
		}
	}
	if _, err := t.w.Write(p[:i]); err != nil {
		return 0, err
	}
	if !t.inHeader && t.left == 0 {
		return i, errTopDone
	}
	return i, nil
}
