package textline

import "io"

// Writer buffers output to a destination and writes it in large pieces: a
// session writes many responses and flushes once per burst of pipelined
// commands. Its buffer comes from a Pool and goes back after each Flush, so
// an idle connection holds none. The buffer never grows: when it is full,
// Write blocks writing to the destination, which bounds what a client that
// does not read can make the server queue.
type Writer struct {
	dst  io.Writer
	pool *Pool
	buf  []byte
	n    int
	size int
	err  error
}

// NewWriter returns a Writer to dst. pool may be nil; then a buffer of 16
// KiB is allocated once and kept.
func NewWriter(dst io.Writer, pool *Pool) *Writer {
	w := &Writer{dst: dst, pool: pool, size: 16 << 10}
	if pool != nil {
		w.size = pool.Size()
	}
	return w
}

// Reset makes the Writer write to dst (after a TLS upgrade). Buffered data
// must have been flushed.
func (w *Writer) Reset(dst io.Writer) {
	w.dst = dst
	w.n = 0
	w.err = nil
	w.release()
}

func (w *Writer) release() {
	if w.buf != nil && w.pool != nil {
		w.pool.put(w.buf)
		w.buf = nil
	}
}

// Buffered is the number of octets waiting for Flush.
func (w *Writer) Buffered() int { return w.n }

// Err is the first error writing to the destination.
func (w *Writer) Err() error { return w.err }

// Flush writes what is buffered and releases the buffer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.n > 0 {
		_, err := w.dst.Write(w.buf[:w.n])
		if err != nil {
			w.err = err
			return err
		}
		w.n = 0
	}
	w.release()
	return nil
}

func (w *Writer) grab() {
	if w.buf == nil {
		if w.buf = w.pool.get(); w.buf == nil {
			w.buf = make([]byte, w.size)
		}
	}
}

// Write buffers p, writing to the destination whenever the buffer fills.
func (w *Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.err != nil {
			return written, w.err
		}
		if w.n == 0 && len(p) >= w.size {
			// Large write with nothing queued: skip the copy.
			n, err := w.dst.Write(p)
			written += n
			if err != nil {
				w.err = err
			}
			return written, err
		}
		w.grab()
		c := copy(w.buf[w.n:], p)
		w.n += c
		written += c
		p = p[c:]
		if w.n == len(w.buf) {
			if _, err := w.dst.Write(w.buf[:w.n]); err != nil {
				w.err = err
				return written, err
			}
			w.n = 0
		}
	}
	return written, nil
}

// WriteString buffers s.
func (w *Writer) WriteString(s string) (int, error) {
	written := 0
	for len(s) > 0 {
		if w.err != nil {
			return written, w.err
		}
		w.grab()
		c := copy(w.buf[w.n:], s)
		w.n += c
		written += c
		s = s[c:]
		if w.n == len(w.buf) {
			if _, err := w.dst.Write(w.buf[:w.n]); err != nil {
				w.err = err
				return written, err
			}
			w.n = 0
		}
	}
	return written, nil
}

// WriteLine buffers the parts of one line followed by CRLF.
func (w *Writer) WriteLine(parts ...string) error {
	for _, s := range parts {
		w.WriteString(s)
	}
	_, err := w.WriteString("\r\n")
	return err
}
