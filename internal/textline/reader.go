// Package textline reads and writes the CRLF-terminated lines of text mail
// protocols (POP3, LMTP): a line reader with a length cap, a buffered writer
// that flushes in large writes, and the dot-stuffing of RFC 1939 §3 and
// RFC 5321 §4.5.2 in both directions.
//
// Readers and writers are used by one goroutine (a session); a Pool is safe
// for concurrent use and lets idle sessions give their buffers back.
package textline

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// ErrLineTooLong is returned by ReadLine for a line longer than the limit.
// The rest of that line is skipped by the following ReadLine, so the caller
// may answer the error and go on reading at the next line.
var ErrLineTooLong = errors.New("line too long")

// Pool hands out byte buffers of one size. It is safe for concurrent use.
// A server keeps one per buffer size; readers and writers return their
// buffers to it while their connection is idle (DESIGN.md §4).
type Pool struct {
	size int
	p    sync.Pool
}

// NewPool returns a pool of buffers of size bytes.
func NewPool(size int) *Pool {
	if size < 64 {
		size = 64
	}
	pl := &Pool{size: size}
	pl.p.New = func() any { b := make([]byte, size); return &b }
	return pl
}

// Size is the length of the pool's buffers.
func (p *Pool) Size() int { return p.size }

// Get takes a buffer of Size octets from the pool.
func (p *Pool) Get() []byte {
	if b := p.get(); b != nil {
		return b
	}
	return make([]byte, 4096)
}

// Put gives a buffer from Get back.
func (p *Pool) Put(b []byte) { p.put(b) }

func (p *Pool) get() []byte {
	if p == nil {
		return nil
	}
	return *(p.p.Get().(*[]byte))
}

func (p *Pool) put(b []byte) {
	if p == nil || cap(b) != p.size {
		return
	}
	b = b[:p.size]
	p.p.Put(&b)
}

// Reader reads lines from a source. Its buffer comes from a Pool (or is
// allocated once when the pool is nil); whenever the buffer runs empty it is
// given back before the next blocking read, which goes into a small array
// inside the Reader, so an idle connection holds no large buffer.
type Reader struct {
	src      io.Reader
	pool     *Pool
	buf      []byte
	r, w     int
	max      int
	skipping bool // discarding the rest of an over-long line
	err      error
	small    [32]byte
}

// NewReader returns a Reader of src whose lines may be at most max octets
// (without the line end). pool may be nil; then the Reader allocates one
// buffer of max+2 (at least 4 KiB) octets and keeps it.
func NewReader(src io.Reader, max int, pool *Pool) *Reader {
	rd := &Reader{src: src, pool: pool}
	rd.SetMax(max)
	return rd
}

func (rd *Reader) bufSize() int {
	if rd.pool != nil {
		return rd.pool.Size()
	}
	return max(4096, rd.max+2)
}

// SetMax changes the line length limit. It is clamped to what the buffer
// can hold (buffer size less 2 octets for CRLF).
func (rd *Reader) SetMax(max int) {
	if max < 1 {
		max = 1
	}
	if rd.pool != nil && max > rd.pool.Size()-2 {
		max = rd.pool.Size() - 2
	}
	rd.max = max
	if rd.pool == nil && rd.buf != nil && len(rd.buf) < max+2 {
		nb := make([]byte, max+2)
		rd.w = copy(nb, rd.buf[rd.r:rd.w])
		rd.r = 0
		rd.buf = nb
	}
}

// Max is the current line length limit.
func (rd *Reader) Max() int { return rd.max }

// Reset makes the Reader read from src, discarding anything buffered (after
// STLS, RFC 2595 §4: plaintext pipelined behind the command is dropped).
func (rd *Reader) Reset(src io.Reader) {
	rd.src = src
	rd.r, rd.w = 0, 0
	rd.skipping = false
	rd.err = nil
	rd.release()
}

// Buffered is the number of octets read from the source and not yet
// returned.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// LineBuffered reports whether a complete line waits in the buffer, so that
// ReadLine returns without touching the source. A session flushes its
// output when it does not (a pipelining client waits for answers).
func (rd *Reader) LineBuffered() bool {
	return bytes.IndexByte(rd.buf[rd.r:rd.w], '\n') >= 0
}

// Release gives the buffer back to the pool if nothing is buffered.
func (rd *Reader) Release() {
	if rd.r == rd.w {
		rd.release()
	}
}

func (rd *Reader) release() {
	if rd.buf != nil && rd.pool != nil {
		rd.pool.put(rd.buf)
		rd.buf = nil
	}
	rd.r, rd.w = 0, 0
}

// fill reads more from the source. It returns an error only when nothing
// was read.
func (rd *Reader) fill() error {
	if rd.err != nil {
		return rd.err
	}
	if rd.r == rd.w {
		// Empty: wait for the next data without holding a large buffer.
		rd.release()
		n, err := rd.src.Read(rd.small[:])
		if n > 0 {
			if rd.buf == nil {
				if rd.buf = rd.pool.get(); rd.buf == nil {
					rd.buf = make([]byte, rd.bufSize())
				}
			}
			rd.w = copy(rd.buf, rd.small[:n])
			return nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		rd.err = err
		return err
	}
	if rd.r > 0 {
		copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.w -= rd.r
		rd.r = 0
	}
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	if n > 0 {
		if err != nil {
			rd.err = err
		}
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	rd.err = err
	return err
}

// ReadLine returns the next line without its line end (CRLF or a bare LF;
// a CR before the LF is removed). The slice is valid until the next call.
// A line longer than Max yields ErrLineTooLong at once; the rest of it is
// skipped by the next call. At the end of the source a final unterminated
// line is returned with nil error, then the source's error (io.EOF).
func (rd *Reader) ReadLine() ([]byte, error) {
	for {
		if rd.skipping {
			if i := bytes.IndexByte(rd.buf[rd.r:rd.w], '\n'); i >= 0 {
				rd.r += i + 1
				rd.skipping = false
				continue
			}
			rd.r = rd.w
			if err := rd.fill(); err != nil {
				return nil, err
			}
			continue
		}
		if i := bytes.IndexByte(rd.buf[rd.r:rd.w], '\n'); i >= 0 {
			line := rd.buf[rd.r : rd.r+i]
			rd.r += i + 1
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if len(line) > rd.max {
				return nil, ErrLineTooLong
			}
			return line, nil
		}
		if rd.w-rd.r > rd.max+1 {
			// No line end within the limit (+1 for a CR that may
			// precede the LF): report now, skip the rest later.
			rd.r = rd.w
			rd.skipping = true
			return nil, ErrLineTooLong
		}
		if err := rd.fill(); err != nil {
			if rd.r < rd.w {
				line := rd.buf[rd.r:rd.w]
				rd.r = rd.w
				if len(line) > rd.max {
					return nil, ErrLineTooLong
				}
				return line, nil
			}
			return nil, err
		}
	}
}

// Read reads raw octets (after a line-oriented prefix), implementing
// io.Reader for DotReader and callers that switch to bulk data.
func (rd *Reader) Read(p []byte) (int, error) {
	if rd.r == rd.w {
		if err := rd.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, rd.buf[rd.r:rd.w])
	rd.r += n
	return n, nil
}

// ReadByte implements io.ByteReader.
func (rd *Reader) ReadByte() (byte, error) {
	if rd.r == rd.w {
		if err := rd.fill(); err != nil {
			return 0, err
		}
	}
	c := rd.buf[rd.r]
	rd.r++
	return c, nil
}
