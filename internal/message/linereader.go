package message

import (
	"bufio"
	"errors"
	"io"
)

// lineBufSize is the bufio buffer of the parser; a line longer than this is
// seen in fragments, of which only the first is inspected for boundaries.
const lineBufSize = 16 * 1024

// lineReader reads a message line by line, keeping the absolute offset and
// the number of LFs seen, with one line of look-ahead: peek shows the first
// fragment of the next line without consuming it, consume takes the whole
// line. Lines end at LF (CRLF or bare LF); the last line may have no end.
type lineReader struct {
	br *bufio.Reader

	off int64 // offset of the next unconsumed octet (start of the peeked line)
	lfs int64 // LFs before off

	prevEOL     int  // line-end length (0, 1 or 2) of the last consumed line
	prevContent bool // the last consumed line had octets before its line end

	peeked   bool
	frag     []byte // first fragment of the peeked line; valid until consume
	fragFull bool   // the peeked line continues past frag
	eof      bool
	err      error // first read error other than io.EOF
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, lineBufSize)}
}

// peek returns the first fragment of the next line, or false at the end
// of input (or after a read error, kept in lr.err).
func (lr *lineReader) peek() ([]byte, bool) {
	if lr.peeked {
		return lr.frag, true
	}
	if lr.eof {
		return nil, false
	}
	frag, err := lr.br.ReadSlice('\n')
	lr.fragFull = false
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		lr.fragFull = true
	case err == io.EOF:
		if len(frag) == 0 {
			lr.eof = true
			return nil, false
		}
	default:
		lr.err = err
		lr.eof = true
		if len(frag) == 0 {
			return nil, false
		}
	}
	lr.frag, lr.peeked = frag, true
	return frag, true
}

// consume takes the peeked line (peek must have returned true), handing
// each of its fragments, line end included, to sink when sink is not nil.
func (lr *lineReader) consume(sink func([]byte)) {
	frag := lr.frag
	total := int64(len(frag))
	if sink != nil {
		sink(frag)
	}
	last := frag
	var beforeLast byte // octet preceding last[0], for a CRLF split across fragments
	for lr.fragFull {
		if len(last) > 0 {
			beforeLast = last[len(last)-1]
		}
		next, err := lr.br.ReadSlice('\n')
		lr.fragFull = errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !lr.fragFull {
			if err != io.EOF {
				lr.err = err
			}
			lr.eof = true
		}
		if len(next) == 0 {
			break
		}
		total += int64(len(next))
		if sink != nil {
			sink(next)
		}
		last = next
	}
	eol := 0
	if n := len(last); n > 0 && last[n-1] == '\n' {
		eol = 1
		if n > 1 && last[n-2] == '\r' || n == 1 && beforeLast == '\r' {
			eol = 2
		}
		lr.lfs++
	}
	lr.off += total
	lr.prevEOL = eol
	lr.prevContent = total > int64(eol)
	lr.peeked = false
	lr.frag = nil
}
