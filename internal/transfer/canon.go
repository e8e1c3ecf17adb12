package transfer

import (
	"bufio"
	"bytes"
	"io"
)

// crlfReader turns every bare LF of the underlying stream into CRLF, the
// form the store keeps messages in (RFC 5322 §2.3 lines end in CRLF). A CR
// that is not followed by LF is passed through unchanged, so the conversion
// is idempotent: CRLF input comes out byte for byte.
//
// Import wraps every message in one before hashing it, so the hash it
// computes is the blob id the store will give the same bytes.
type crlfReader struct {
	r      io.Reader
	lastCR bool   // the last byte handed out was CR
	buf    []byte // converted bytes not yet handed out
	store  []byte // backing array of buf
	in     []byte
	err    error
}

func newCRLFReader(r io.Reader) *crlfReader {
	return &crlfReader{r: r, in: make([]byte, 32<<10)}
}

func (c *crlfReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		n, err := c.r.Read(c.in)
		c.err = err
		if n == 0 {
			continue
		}
		out := c.store[:0]
		for _, b := range c.in[:n] {
			if b == '\n' && !c.lastCR {
				out = append(out, '\r')
			}
			out = append(out, b)
			c.lastCR = b == '\r'
		}
		c.store = out
		c.buf = out
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// needsCRLF reports whether a stored (CRLF) message must be exported with
// CRLF line ends to survive a round trip: turning CRLF into LF would make
// "\r\r\n" (a line ending in a bare CR) read back as "\r\n". Such messages
// are rare; they are written unchanged instead.
func needsCRLF(body io.ReaderAt, size int64) (bool, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk+2)
	for off := int64(0); off < size; off += chunk {
		n, err := body.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return false, err
		}
		if bytes.Contains(buf[:n], []byte("\r\r\n")) {
			return true, nil
		}
		if n < len(buf) {
			break
		}
	}
	return false, nil
}

// lineReader hands out a stream line by line without ever holding a whole
// long line: ReadFragment returns at most the bufio buffer's size and says
// whether the fragment starts a line. Callers that only look at line starts
// (From_ detection, header ends) therefore work on lines of any length.
type lineReader struct {
	br        *bufio.Reader
	lineStart bool // the next fragment begins a line
	consumed  int64
}

func newLineReader(r io.Reader, size int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, size), lineStart: true}
}

// next returns the next fragment, whether it begins a line and whether it
// ends one (holds the LF). The fragment is valid until the next call. At
// the end of the stream it returns io.EOF with an empty fragment.
func (l *lineReader) next() (frag []byte, start, complete bool, err error) {
	frag, err = l.br.ReadSlice('\n')
	start = l.lineStart
	switch {
	case err == nil:
		complete = true
	case err == bufio.ErrBufferFull:
		err = nil
	case err == io.EOF && len(frag) > 0:
		err = nil
	}
	if err != nil {
		return nil, start, false, err
	}
	l.consumed += int64(len(frag))
	// A fragment ending at EOF without LF still ends its line.
	l.lineStart = complete
	return frag, start, complete, nil
}

// isBlankLine reports whether a complete line is empty ("\n" or "\r\n").
func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}
