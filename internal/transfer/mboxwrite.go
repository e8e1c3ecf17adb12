package transfer

import (
	"bufio"
	"bytes"
	"io"
	"time"
)

// mboxWriter writes messages to an mbox file in the mboxrd form: each
// message is a From_ line, the message with every line matching ^>*From
// quoted by one more ">", and a blank line (RFC 4155 §2). Used by one
// goroutine.
type mboxWriter struct {
	w *bufio.Writer
}

func newMboxWriter(w io.Writer) *mboxWriter {
	return &mboxWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// writeMessage writes one message; meta (mailbox-state header fields, see
// mboxMetaLines) goes at the end of the header block. keepCRLF is
// needsCRLF's answer for the message. It returns the bytes written.
func (mw *mboxWriter) writeMessage(sender string, date time.Time, meta []byte, body io.Reader, keepCRLF bool) (int64, error) {
	cw := &countWriter{w: mw.w}
	io.WriteString(cw, formatFromLine(sender, date))
	if _, err := copyMessage(cw, body, copyOptions{keepCRLF: keepCRLF, quoteFrom: true, meta: meta}); err != nil {
		return cw.n, err
	}
	cw.Write([]byte{'\n'})
	return cw.n, cw.err
}

// Flush writes buffered bytes to the file.
func (mw *mboxWriter) Flush() error { return mw.w.Flush() }

// copyOptions say how copyMessage rewrites a stored message.
type copyOptions struct {
	// keepCRLF writes line ends as stored; otherwise CRLF becomes LF (the
	// Unix convention of mbox and Maildir files).
	keepCRLF bool
	// quoteFrom quotes ^>*From  lines with one more ">" (mboxrd) and ends
	// the message with a line end.
	quoteFrom bool
	// meta is inserted at the end of the header block (mbox only).
	meta []byte
}

// copyMessage copies a stored message to w line by line (lines of any
// length are handled in fragments).
func copyMessage(w io.Writer, body io.Reader, o copyOptions) (int64, error) {
	cw := &countWriter{w: w}
	lr := newLineReader(body, 16<<10)
	inHeader := o.meta != nil
	lastComplete := true
	pendingCR := false
	for {
		frag, start, complete, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cw.n, err
		}
		if pendingCR {
			if frag[0] != '\n' {
				cw.Write([]byte{'\r'})
			}
			pendingCR = false
		}
		if start {
			if inHeader && complete && isBlankLine(frag) {
				cw.Write(o.meta)
				inHeader = false
			}
			if o.quoteFrom && needsFromQuote(frag) {
				cw.Write([]byte{'>'})
			}
		}
		lastComplete = complete
		switch {
		case o.keepCRLF:
			cw.Write(frag)
		case complete && bytes.HasSuffix(frag, []byte("\r\n")):
			cw.Write(frag[:len(frag)-2])
			cw.Write([]byte{'\n'})
		case !complete && frag[len(frag)-1] == '\r':
			cw.Write(frag[:len(frag)-1])
			pendingCR = true
		default:
			cw.Write(frag)
		}
	}
	if pendingCR {
		cw.Write([]byte{'\r'})
	}
	if o.quoteFrom && !lastComplete {
		cw.Write([]byte{'\n'})
	}
	if inHeader {
		cw.Write(o.meta)
	}
	return cw.n, cw.err
}

// countWriter counts bytes and keeps the first error.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
