package imapserver

import (
	"bufio"
	"errors"
	"io"
)

// inflater decodes the client's half of COMPRESS=DEFLATE (RFC 4978): a
// raw DEFLATE stream (RFC 1951). It is written here, not taken from
// compress/flate, because the standard decoder keeps decoded bytes in its
// window until a stored block or 32 KiB of output: a client that flushes
// with Z_PARTIAL_FLUSH (an empty fixed block, no stored block) and waits
// for the answer would wait forever. This decoder returns what it has
// decoded as soon as it would otherwise have to wait for input, and only
// blocks on the source when it holds nothing for the caller.
//
// Only the session's goroutine (or the IDLE reader it starts and waits
// for) reads from it; it is not safe for concurrent use.
type inflater struct {
	src   *bufio.Reader
	bits  uint64 // bit buffer, least significant bit first
	nbits uint
	err   error

	win     [windowSize]byte // history and not yet returned output
	wpos    int              // next write position in win
	pending int              // decoded bytes not yet returned (just before wpos)
	total   int              // bytes decoded, capped at windowSize

	state      inflateState
	final      bool // the current block is the last
	storedLeft int
	lit, dist  huffman
}

type inflateState uint8

const (
	stateHeader inflateState = iota // at a block boundary
	stateStored                     // inside a stored block
	stateCodes                      // inside a Huffman block
	stateDone                       // after the final block
)

const (
	windowSize = 1 << 15
	// maxPending bounds undelivered output so that a match (at most 258
	// bytes) never overwrites it.
	maxPending = windowSize / 2
	// fastBits is the width of the Huffman lookup table.
	fastBits = 9
)

var errCorruptDeflate = errors.New("corrupt deflate stream")

// huffman is a canonical Huffman code (RFC 1951 §3.2.2): a table for
// codes up to fastBits long, and counts/symbols for longer ones.
type huffman struct {
	fast    [1 << fastBits]uint16 // symbol<<4 | length; 0: longer code
	count   [16]uint16            // codes of each length
	symbol  [288]uint16           // symbols ordered by code
	minBits uint
}

// build makes the code for the given code lengths (0: unused symbol).
func (h *huffman) build(lengths []uint8) error {
	h.count = [16]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	h.minBits = 0
	for l := 1; l < 16; l++ {
		left = left*2 - int(h.count[l])
		if left < 0 {
			return errCorruptDeflate // over-subscribed
		}
		if h.minBits == 0 && h.count[l] > 0 {
			h.minBits = uint(l)
		}
	}
	if h.minBits == 0 {
		h.minBits = 1 // no codes: any symbol read is an error
	}
	var offs [16]uint16
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	// Canonical codes, assigned in order of length then symbol.
	h.fast = [1 << fastBits]uint16{}
	code := 0
	var next [16]int
	for l := 1; l < 16; l++ {
		code = (code + int(h.count[l-1])) << 1
		if l == 1 {
			code = 0
		}
		next[l] = code
	}
	for sym, l := range lengths {
		if l == 0 || l > fastBits {
			if l != 0 {
				next[l]++
			}
			continue
		}
		c := next[l]
		next[l]++
		rev := 0
		for i := 0; i < int(l); i++ {
			rev |= (c >> i & 1) << (int(l) - 1 - i)
		}
		for i := rev; i < len(h.fast); i += 1 << l {
			h.fast[i] = uint16(sym)<<4 | uint16(l)
		}
	}
	return nil
}

// need makes at least n bits available, reading (and maybe blocking).
func (f *inflater) need(n uint) error {
	for f.nbits < n {
		c, err := f.src.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		f.bits |= uint64(c) << f.nbits
		f.nbits += 8
	}
	return nil
}

func (f *inflater) take(n uint) uint32 {
	v := uint32(f.bits & (1<<n - 1))
	f.bits >>= n
	f.nbits -= n
	return v
}

// decode reads one symbol of h.
func (f *inflater) decode(h *huffman) (int, error) {
	n := h.minBits
	for {
		if err := f.need(n); err != nil {
			return 0, err
		}
		e := h.fast[f.bits&(1<<fastBits-1)]
		l := uint(e & 15)
		if l == 0 {
			break // a code longer than fastBits
		}
		if l <= f.nbits {
			f.take(l)
			return int(e >> 4), nil
		}
		n = l
	}
	// Bit by bit, in canonical order (RFC 1951 §3.2.2).
	code, first, index := 0, 0, 0
	for l := uint(1); l < 16; l++ {
		if err := f.need(l); err != nil {
			return 0, err
		}
		code |= int(f.bits >> (l - 1) & 1)
		count := int(h.count[l])
		if code-count < first {
			f.take(l)
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, errCorruptDeflate
}

// Read returns decoded bytes. It blocks on the source only when it has
// nothing decoded to return.
func (f *inflater) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if f.pending > 0 && (f.pending >= len(p) || f.pending >= maxPending || f.src.Buffered() == 0 || f.err != nil) {
			return f.drain(p), nil
		}
		if f.err != nil {
			return 0, f.err
		}
		f.err = f.step()
	}
}

// drain copies pending output to p.
func (f *inflater) drain(p []byte) int {
	n := min(len(p), f.pending)
	start := (f.wpos - f.pending + windowSize) % windowSize
	for k := 0; k < n; {
		c := copy(p[k:n], f.win[start:])
		k += c
		start = (start + c) % windowSize
	}
	f.pending -= n
	return n
}

func (f *inflater) put(b byte) {
	f.win[f.wpos] = b
	f.wpos = (f.wpos + 1) % windowSize
	f.pending++
	if f.total < windowSize {
		f.total++
	}
}

// step decodes one unit: a block header, some stored bytes, or one
// literal or match.
func (f *inflater) step() error {
	switch f.state {
	case stateDone:
		return io.EOF
	case stateHeader:
		return f.header()
	case stateStored:
		for k := 0; k < 1024 && f.storedLeft > 0; k++ {
			if k > 0 && f.nbits == 0 && f.src.Buffered() == 0 {
				break
			}
			if err := f.need(8); err != nil {
				return err
			}
			f.put(byte(f.take(8)))
			f.storedLeft--
		}
		if f.storedLeft == 0 {
			f.endBlock()
		}
		return nil
	}
	sym, err := f.decode(&f.lit)
	if err != nil {
		return err
	}
	switch {
	case sym < 256:
		f.put(byte(sym))
		return nil
	case sym == 256:
		f.endBlock()
		return nil
	case sym > 285:
		return errCorruptDeflate
	}
	i := sym - 257
	if err := f.need(uint(lengthExtra[i])); err != nil {
		return err
	}
	length := int(lengthBase[i]) + int(f.take(uint(lengthExtra[i])))
	d, err := f.decode(&f.dist)
	if err != nil {
		return err
	}
	if d >= 30 {
		return errCorruptDeflate
	}
	if err := f.need(uint(distExtra[d])); err != nil {
		return err
	}
	dist := int(distBase[d]) + int(f.take(uint(distExtra[d])))
	if dist > f.total {
		return errCorruptDeflate
	}
	for ; length > 0; length-- {
		f.put(f.win[(f.wpos-dist+windowSize)%windowSize])
	}
	return nil
}

func (f *inflater) endBlock() {
	if f.final {
		f.state = stateDone
	} else {
		f.state = stateHeader
	}
}

// header reads a block header (RFC 1951 §3.2.3).
func (f *inflater) header() error {
	if err := f.need(3); err != nil {
		return err
	}
	f.final = f.take(1) == 1
	switch f.take(2) {
	case 0: // stored (§3.2.4)
		f.take(f.nbits % 8)
		if err := f.need(32); err != nil {
			return err
		}
		n, nn := f.take(16), f.take(16)
		if n != ^nn&0xffff {
			return errCorruptDeflate
		}
		f.storedLeft = int(n)
		f.state = stateStored
		if n == 0 {
			f.endBlock()
		}
		return nil
	case 1: // fixed codes (§3.2.6)
		var l [288]uint8
		for i := range l {
			switch {
			case i < 144:
				l[i] = 8
			case i < 256:
				l[i] = 9
			case i < 280:
				l[i] = 7
			default:
				l[i] = 8
			}
		}
		var d [30]uint8
		for i := range d {
			d[i] = 5
		}
		if err := f.lit.build(l[:]); err != nil {
			return err
		}
		if err := f.dist.build(d[:]); err != nil {
			return err
		}
	case 2:
		if err := f.dynamic(); err != nil {
			return err
		}
	default:
		return errCorruptDeflate
	}
	f.state = stateCodes
	return nil
}

// codeLengthOrder is the order of the code length code lengths (§3.2.7).
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the code definitions of a dynamic block (§3.2.7).
func (f *inflater) dynamic() error {
	if err := f.need(14); err != nil {
		return err
	}
	nlit := int(f.take(5)) + 257
	ndist := int(f.take(5)) + 1
	ncode := int(f.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return errCorruptDeflate
	}
	var cl [19]uint8
	for i := 0; i < ncode; i++ {
		if err := f.need(3); err != nil {
			return err
		}
		cl[codeLengthOrder[i]] = uint8(f.take(3))
	}
	var clCode huffman
	if err := clCode.build(cl[:]); err != nil {
		return err
	}
	var lengths [286 + 30]uint8
	for i := 0; i < nlit+ndist; {
		sym, err := f.decode(&clCode)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return errCorruptDeflate
			}
			if err := f.need(2); err != nil {
				return err
			}
			rep, val = 3+int(f.take(2)), lengths[i-1]
		case 17:
			if err := f.need(3); err != nil {
				return err
			}
			rep = 3 + int(f.take(3))
		default:
			if err := f.need(7); err != nil {
				return err
			}
			rep = 11 + int(f.take(7))
		}
		if i+rep > nlit+ndist {
			return errCorruptDeflate
		}
		for ; rep > 0; rep-- {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 {
		return errCorruptDeflate // no end-of-block code
	}
	if err := f.lit.build(lengths[:nlit]); err != nil {
		return err
	}
	return f.dist.build(lengths[nlit : nlit+ndist])
}

// Length and distance bases and extra bits (RFC 1951 §3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)
