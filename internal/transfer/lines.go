package transfer

import (
	"bufio"
	"bytes"
	"io"
)

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
// long line: next returns at most the bufio buffer's size and says whether
// the fragment starts a line. Callers that only look at line starts
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
	l.lineStart = complete
	return frag, start, complete, nil
}

// isBlankLine reports whether a complete line is empty ("\n" or "\r\n").
func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// raw returns up to max bytes as they come, ignoring lines (an mboxcl2
// body). The slice is valid until the next call.
func (l *lineReader) raw(max int64) ([]byte, error) {
	if l.br.Buffered() == 0 {
		if _, err := l.br.Peek(1); err != nil {
			return nil, err
		}
	}
	n := l.br.Buffered()
	if int64(n) > max {
		n = int(max)
	}
	p, err := l.br.Peek(n)
	if err != nil {
		return nil, err
	}
	l.br.Discard(n)
	l.consumed += int64(n)
	l.lineStart = p[n-1] == '\n'
	return p, nil
}
