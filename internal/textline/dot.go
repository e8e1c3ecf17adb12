package textline

import (
	"bytes"
	"io"
)

// DotWriter writes a multi-line block in the dot-stuffed form of RFC 1939
// §3 and RFC 5321 §4.5.2: a line starting with "." gets another "." in
// front, bare LF becomes CRLF, and Close ends the block with ".\r\n" (after
// a CRLF when the data did not end with one). It streams: nothing is held
// back beyond the state of the current line, so a message of any size goes
// through in constant memory. Close does not close the destination.
type DotWriter struct {
	w           io.Writer
	lineStart   bool
	prevCR      bool
	closed      bool
	err         error
	written     int64
	stuffedDots int64
}

// NewDotWriter returns a DotWriter to w.
func NewDotWriter(w io.Writer) *DotWriter {
	return &DotWriter{w: w, lineStart: true}
}

var (
	dotBytes  = []byte(".")
	crlfBytes = []byte("\r\n")
)

func (d *DotWriter) out(p []byte) {
	if d.err != nil || len(p) == 0 {
		return
	}
	_, d.err = d.w.Write(p)
}

// Write stuffs and writes p. It returns len(p) unless the destination
// failed.
func (d *DotWriter) Write(p []byte) (int, error) {
	if d.closed {
		return 0, io.ErrClosedPipe
	}
	n := len(p)
	for len(p) > 0 && d.err == nil {
		if d.lineStart && p[0] == '.' {
			d.out(dotBytes)
			d.stuffedDots++
		}
		d.lineStart = false
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.out(p)
			d.prevCR = p[len(p)-1] == '\r'
			break
		}
		if i > 0 && p[i-1] == '\r' || i == 0 && d.prevCR {
			d.out(p[:i+1])
		} else {
			// Bare LF: make it CRLF.
			d.out(p[:i])
			d.out(crlfBytes)
		}
		d.prevCR = false
		d.lineStart = true
		p = p[i+1:]
	}
	if d.err != nil {
		return 0, d.err
	}
	d.written += int64(n)
	return n, nil
}

// Close ends the block with the terminating line.
func (d *DotWriter) Close() error {
	if d.closed {
		return d.err
	}
	d.closed = true
	if !d.lineStart {
		if d.prevCR {
			d.out([]byte("\n"))
		} else {
			d.out(crlfBytes)
		}
	}
	d.out([]byte(".\r\n"))
	return d.err
}

// DotReader reads a dot-terminated block (RFC 1939 §3, RFC 5321 §4.5.2):
// it removes the stuffed leading dot of each line, keeps line ends as
// sent, and returns io.EOF after the line holding a single ".", which it
// consumes. A source that ends before that line gives
// io.ErrUnexpectedEOF. Lines may be of any length.
type DotReader struct {
	r       io.ByteReader
	state   int
	pending int // a byte held over from the previous Read, or -1
	done    bool
	err     error
}

const (
	dotBeginLine = iota // at the start of a line
	dotDot              // saw "." at the start of a line
	dotDotCR            // saw ".\r" at the start of a line
	dotData             // inside a line
)

// NewDotReader returns a DotReader of r (a *Reader or a *bufio.Reader).
func NewDotReader(r io.ByteReader) *DotReader {
	return &DotReader{r: r, pending: -1}
}

// Read implements io.Reader.
func (d *DotReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if d.done {
			return n, io.EOF
		}
		if d.err != nil {
			return n, d.err
		}
		var c byte
		if d.pending >= 0 {
			c = byte(d.pending)
			d.pending = -1
		} else {
			var err error
			if c, err = d.r.ReadByte(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				d.err = err
				continue
			}
		}
		switch d.state {
		case dotBeginLine:
			if c == '.' {
				d.state = dotDot
				continue
			}
			d.state = dotData
			if c == '\n' {
				d.state = dotBeginLine
			}
		case dotDot:
			switch c {
			case '\r':
				d.state = dotDotCR
				continue
			case '\n':
				d.done = true // ".\n": a lenient end
				continue
			}
			d.state = dotData // the stuffed dot is dropped
		case dotDotCR:
			d.state = dotData
			if c == '\n' {
				d.done = true
				continue
			}
			// ".\r" and something else: the dot was stuffed; give
			// back the CR now and c on the next round.
			p[n] = '\r'
			n++
			d.pending = int(c)
			continue
		case dotData:
			if c == '\n' {
				d.state = dotBeginLine
			}
		}
		p[n] = c
		n++
	}
	return n, nil
}
