package imapserver

import (
	"bufio"
	"compress/flate"
	"io"
	"strings"
)

// deflateWriter compresses what the session writes (COMPRESS=DEFLATE,
// RFC 4978). Every write ends with a sync flush so the client can decode
// it at once. The compressor comes from the server's pool while the
// session writes and goes back when the session idles (release): a new
// compressor starting without history still produces a valid continuation
// of the raw deflate stream, so idle compressed sessions hold no
// compressor state.
type deflateWriter struct {
	dst  io.Writer
	fw   *flate.Writer
	pool interface {
		Get() any
		Put(any)
	}
}

func (d *deflateWriter) Write(p []byte) (int, error) {
	if d.fw == nil {
		d.fw = d.pool.Get().(*flate.Writer)
		d.fw.Reset(d.dst)
	}
	n, err := d.fw.Write(p)
	if err != nil {
		return n, err
	}
	return n, d.fw.Flush()
}

// release returns the compressor to the pool; everything written was
// flushed already.
func (d *deflateWriter) release() {
	if d.fw != nil {
		d.fw.Reset(io.Discard)
		d.pool.Put(d.fw)
		d.fw = nil
	}
}

// cmdCompress: COMPRESS DEFLATE (RFC 4978).
func cmdCompress(s *session, c *command) error {
	d := s.dec
	var algo string
	if !d.ExpectSP() || !d.ExpectAtom(&algo) || !d.ExpectCRLF() {
		return nil
	}
	if !strings.EqualFold(algo, "DEFLATE") {
		return errBad("Unknown compression algorithm")
	}
	if s.deflate != nil {
		return errNo("COMPRESSIONACTIVE", "Compression is already active")
	}
	s.enc.Atom(c.tag).Atom(" OK DEFLATE active").CRLF()
	if err := s.enc.Flush(); err != nil {
		return &fatalError{err}
	}
	// Both directions are compressed from here on; anything the client
	// sent early was not.
	s.br.Reset(&s.src)
	s.src.pre = nil
	s.deflate = &deflateWriter{dst: s.out.w, pool: &s.srv.compressors}
	s.out.w = s.deflate
	// The decoder returns each command as soon as it is decoded, whatever
	// flush the client uses (inflate.go).
	s.src.r = &inflater{src: bufio.NewReaderSize(s.src.r, bufferSize)}
	s.bw.Reset(&s.out)
	return errTaggedAlready
}
