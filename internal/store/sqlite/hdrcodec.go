package sqlite

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/postern/postern/internal/message"
)

// The headers column holds a message's parsed header summary
// (message.Headers). Rows written before version 1 hold JSON (first byte
// '{'); newer rows hold a compact binary form, which SEARCH on headers
// (Fetch with Headers over a whole mailbox) decodes far faster:
//
//	0x01                      version
//	9 × (uvarint len, bytes)  From, Sender, ReplyTo, To, Cc, Bcc, Subject, MessageID, InReplyTo
//	varint secs               Date as Unix seconds; then, unless Date is zero:
//	uvarint nanos, varint zone offset in seconds
//	uvarint n, n × (uvarint len, bytes)  References
//
// A zero Date is written as secs = 0 with the "has date" bit clear: the
// first varint is 2*secs+1 when Date is set and 0 when it is zero.
const headersV1 = 0x01

var errBadHeaders = errors.New("corrupt headers column")

// encodeHeaders gives the column value for h. Called by the writer
// goroutine (append); safe for concurrent use.
func encodeHeaders(h *message.Headers) []byte {
	n := 1 + 10*binary.MaxVarintLen64
	strs := headerStrings(h)
	for _, s := range strs {
		n += len(s) + binary.MaxVarintLen64
	}
	for _, r := range h.References {
		n += len(r) + binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = append(b, headersV1)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if h.Date.IsZero() {
		b = binary.AppendUvarint(b, 0)
	} else {
		_, off := h.Date.Zone()
		b = binary.AppendUvarint(b, zigzag(h.Date.Unix())<<1|1)
		b = binary.AppendUvarint(b, uint64(h.Date.Nanosecond()))
		b = binary.AppendVarint(b, int64(off))
	}
	b = binary.AppendUvarint(b, uint64(len(h.References)))
	for _, r := range h.References {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

func headerStrings(h *message.Headers) [9]string {
	return [9]string{h.From, h.Sender, h.ReplyTo, h.To, h.Cc, h.Bcc, h.Subject, h.MessageID, h.InReplyTo}
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// decodeHeaders fills h from a headers column value of either version. An
// empty value leaves h zero. zones may be nil; it caches time zones across
// calls of one reader. The strings of h share one allocation.
func decodeHeaders(b []byte, h *message.Headers, zones *zoneCache) error {
	*h = message.Headers{}
	if len(b) == 0 {
		return nil
	}
	if b[0] != headersV1 {
		return json.Unmarshal(b, h)
	}
	// One string conversion backs every field.
	all := string(b[1:])
	d := hdrDecoder{s: all}
	fields := [9]*string{&h.From, &h.Sender, &h.ReplyTo, &h.To, &h.Cc, &h.Bcc, &h.Subject, &h.MessageID, &h.InReplyTo}
	for _, f := range fields {
		*f = d.str()
	}
	if secs := d.uvarint(); secs != 0 {
		nanos := d.uvarint()
		off := d.varint()
		if d.err == nil {
			if nanos >= 1e9 || off < -100*3600 || off > 100*3600 {
				return errBadHeaders
			}
			h.Date = time.Unix(unzigzag(secs>>1), int64(nanos)).In(zones.get(off))
		}
	}
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		return errBadHeaders
	}
	if n > 0 {
		h.References = make([]string, n)
		for i := range h.References {
			h.References[i] = d.str()
		}
	}
	if d.err != nil || len(d.s) != 0 {
		*h = message.Headers{}
		return errBadHeaders
	}
	return nil
}

// hdrDecoder reads varints and length-prefixed strings from s; the first
// error sticks and makes every later read return zero values.
type hdrDecoder struct {
	s   string
	err error
}

func (d *hdrDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			d.s = d.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	d.err = errBadHeaders
	return 0
}

func (d *hdrDecoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *hdrDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)) {
		d.err = errBadHeaders
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

// zoneCache shares one *time.Location per zone offset within one reader
// (a Fetch), instead of allocating a fixed zone per message. Not safe for
// concurrent use; a nil cache allocates each time.
type zoneCache struct {
	last    *time.Location
	lastOff int64
	m       map[int64]*time.Location
}

func (z *zoneCache) get(off int64) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if z == nil {
		return time.FixedZone("", int(off))
	}
	if z.last != nil && z.lastOff == off {
		return z.last
	}
	loc, ok := z.m[off]
	if !ok {
		if z.m == nil {
			z.m = make(map[int64]*time.Location)
		}
		loc = time.FixedZone("", int(off))
		z.m[off] = loc
	}
	z.last, z.lastOff = loc, off
	return loc
}
