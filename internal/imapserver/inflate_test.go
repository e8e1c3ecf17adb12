package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"testing"
)

// inflateAll decodes a whole stream with the session's decoder, reading
// chunk bytes at a time.
func inflateAll(t testing.TB, stream []byte, chunk int) ([]byte, error) {
	t.Helper()
	f := &inflater{src: bufio.NewReaderSize(bytes.NewReader(stream), 64)}
	var out bytes.Buffer
	buf := make([]byte, chunk)
	for {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out.Bytes(), err
		}
	}
}

func deflateBytes(t testing.TB, data []byte, level int, flushEvery int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), max(flushEvery, 1))
		w.Write(data[:n])
		if flushEvery > 0 {
			w.Flush()
		}
		data = data[n:]
	}
	w.Close()
	return b.Bytes()
}

// testCorpus has text, repetition (long matches and distances) and
// noise (stored blocks and long codes).
func testCorpus() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 70000)
	for i := range noise {
		noise[i] = byte(rng.UintN(256))
	}
	skewed := make([]byte, 100000)
	for i := range skewed {
		// Geometric-ish symbols give codes longer than the fast table.
		n := 0
		for n < 40 && rng.UintN(2) == 0 {
			n++
		}
		skewed[i] = byte('a' + n)
	}
	var text bytes.Buffer
	for i := 0; i < 3000; i++ {
		text.WriteString(testMessage(i % 17))
	}
	return [][]byte{nil, []byte("a"), []byte("a1 NOOP\r\n"), noise, skewed, text.Bytes(), bytes.Repeat([]byte("xyz"), 40000)}
}

func TestInflateMatchesStdlib(t *testing.T) {
	t.Parallel()
	for ci, data := range testCorpus() {
		for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
			for _, flushEvery := range []int{0, 1000} {
				stream := deflateBytes(t, data, level, flushEvery)
				for _, chunk := range []int{1, 7, 4096} {
					if chunk == 1 && len(data) > 20000 {
						continue
					}
					got, err := inflateAll(t, stream, chunk)
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("corpus %d level %d flush %d chunk %d: err %v, %d bytes, want %d", ci, level, flushEvery, chunk, err, len(got), len(data))
					}
				}
			}
		}
	}
}

// TestInflateNoStall: after each flushed write the decoder returns what
// was written without waiting for more input, for a sync flush (Go's
// writer) and for partial-flush streams (an empty fixed block, no stored
// block: the bytes below come from zlib's Z_PARTIAL_FLUSH for "z0 NOOP").
func TestInflateNoStall(t *testing.T) {
	t.Parallel()
	check := func(name string, chunks [][]byte, want string) {
		pr, pw := io.Pipe()
		f := &inflater{src: bufio.NewReaderSize(pr, 64)}
		done := make(chan error, 1)
		go func() {
			for _, c := range chunks {
				if _, err := pw.Write(c); err != nil {
					done <- err
					return
				}
			}
			done <- nil // keeps the pipe open: no more input ever comes
		}()
		got := make([]byte, 0, len(want))
		buf := make([]byte, 16)
		for len(got) < len(want) {
			n, err := f.Read(buf)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, buf[:n]...)
		}
		if string(got) != want {
			t.Fatalf("%s: got %q, want %q", name, got, want)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		pw.Close()
	}
	var sync [][]byte
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	for _, ch := range []byte("a1 NOOP\r\n") {
		w.Write([]byte{ch})
		w.Flush()
		sync = append(sync, bytes.Clone(b.Bytes()))
		b.Reset()
	}
	check("sync flush", sync, "a1 NOOP\r\n")
	partial := [][]byte{{0xaa, 0x02, 0x08}, {0x20, 0x03, 0x80, 0x00}, {0x52, 0x00, 0x08}, {0x20, 0x3f, 0x80, 0x00}, {0xf2, 0x07, 0x08}, {0x20, 0x7f, 0x80, 0x00}, {0x0a, 0x00, 0x08}}
	check("partial flush", partial, "z0 NOOP")
}

func TestInflateCorrupt(t *testing.T) {
	t.Parallel()
	for _, stream := range [][]byte{
		{0x07},                   // reserved block type
		{0x00, 0x05, 0x00, 0x00}, // stored length check fails
		{0x05, 0xe0},             // dynamic header truncated
		{0x02},                   // fixed block cut short
	} {
		if _, err := inflateAll(t, stream, 16); err == nil {
			t.Fatalf("%x: no error", stream)
		}
	}
}

// FuzzInflate: data compressed by compress/flate decodes to itself, and
// any byte string decodes to what compress/flate makes of it (as far as
// compress/flate gets) without panicking.
func FuzzInflate(f *testing.F) {
	for _, d := range testCorpus()[:3] {
		f.Add(d, uint8(6))
	}
	f.Add([]byte{0xaa, 0x02, 0x08, 0x20, 0x03, 0x80, 0x00}, uint8(0xff))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		if mode == 0xff {
			want, werr := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
			got, err := inflateAll(t, data, 5)
			if werr == nil && (err != nil || !bytes.Equal(got, want)) {
				t.Fatalf("stdlib decodes %q, got %q (%v)", want, got, err)
			}
			if werr != nil && !bytes.HasPrefix(want, got) && !bytes.HasPrefix(got, want) {
				t.Fatalf("diverged: stdlib %q, got %q", want, got)
			}
			return
		}
		stream := deflateBytes(t, data, int(mode%11)-2, int(mode%3)*50)
		got, err := inflateAll(t, stream, 1+int(mode%13))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: err %v, got %d bytes, want %d", err, len(got), len(data))
		}
	})
}

// BenchmarkInflate decodes a compressed APPEND-sized text (the heaviest
// client-to-server traffic) with the session's decoder.
func BenchmarkInflate(b *testing.B) {
	data := testCorpus()[5]
	stream := deflateBytes(b, data, flate.DefaultCompression, 0)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if got, err := inflateAll(b, stream, 4096); err != nil || len(got) != len(data) {
			b.Fatal(err)
		}
	}
}
