package message

import (
	"bytes"
	"io"
)

// crlfBufSize is the read buffer of a CRLF reader.
const crlfBufSize = 32 * 1024

// NewCRLFReader returns a reader that yields the bytes of r with every bare
// LF turned into CRLF. CRLF pairs pass through unchanged, as does a lone CR
// (also one at the very end of the input). The store wraps incoming message
// bodies with it before hashing, storing and parsing, so that every stored
// message uses the line ends RFC 5322 §2.3 requires and IMAP sizes are
// stable.
//
// It streams with one fixed buffer. A reader is not safe for concurrent use.
func NewCRLFReader(r io.Reader) io.Reader {
	return &crlfReader{r: r}
}

type crlfReader struct {
	r          io.Reader
	buf        []byte
	start, end int   // pending input is buf[start:end]
	prevCR     bool  // the last byte written out was CR
	pendingLF  bool  // a CR was written for a bare LF; the LF is still owed
	err        error // sticky error from r
}

func (c *crlfReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if c.pendingLF {
			p[n] = '\n'
			n++
			c.pendingLF = false
			c.prevCR = false
			continue
		}
		if c.start == c.end {
			if c.err != nil || n > 0 {
				break
			}
			if c.buf == nil {
				c.buf = make([]byte, crlfBufSize)
			}
			m, err := c.r.Read(c.buf)
			c.start, c.end, c.err = 0, m, err
			if m == 0 && err == nil {
				// A reader may return 0, nil; hand control back.
				break
			}
			continue
		}
		in := c.buf[c.start:c.end]
		if in[0] == '\n' {
			if c.prevCR {
				p[n] = '\n'
				n++
				c.start++
				c.prevCR = false
				continue
			}
			p[n] = '\r'
			n++
			c.pendingLF = true
			c.start++
			continue
		}
		// Copy up to the next LF (or as much as fits).
		chunk := in
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i]
		}
		m := copy(p[n:], chunk)
		n += m
		c.start += m
		c.prevCR = p[n-1] == '\r'
	}
	if n == 0 && c.err != nil {
		return 0, c.err
	}
	return n, nil
}
