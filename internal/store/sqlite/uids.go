package sqlite

import (
	"slices"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/store"
)

// uidChunk is how many UIDs one query handles.
const uidChunk = 1000

// uidSpan is one query's worth of a UID set: either a dense range scanned
// with BETWEEN and filtered against want, or a sparse list queried with IN.
type uidSpan struct {
	want   []store.UID // sorted, unique
	dense  bool
	lo, hi store.UID
}

// where is the SQL condition on column uid, with its arguments.
func (s uidSpan) where() (string, []any) {
	if s.dense {
		return "uid BETWEEN ? AND ?", []any{s.lo, s.hi}
	}
	var b strings.Builder
	b.WriteString("[")
	for i, u := range s.want {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(u), 10))
	}
	b.WriteByte(']')
	return "uid IN (SELECT value FROM json_each(?))", []any{b.String()}
}

// filter tells, for UIDs arriving in increasing order, whether each is
// wanted. It keeps a cursor into want.
type uidFilter struct {
	want []store.UID
	i    int
}

func (f *uidFilter) ok(u store.UID) bool {
	for f.i < len(f.want) && f.want[f.i] < u {
		f.i++
	}
	return f.i < len(f.want) && f.want[f.i] == u
}

// uidSpans sorts and deduplicates uids (a copy) and splits them into
// spans of at most uidChunk UIDs. A span is dense when scanning its range
// reads at most four times as many rows as wanted.
func uidSpans(uids []store.UID) []uidSpan {
	if len(uids) == 0 {
		return nil
	}
	s := slices.Clone(uids)
	slices.Sort(s)
	s = slices.Compact(s)
	var out []uidSpan
	for len(s) > 0 {
		n := min(len(s), uidChunk)
		sp := uidSpan{want: s[:n:n], lo: s[0], hi: s[n-1]}
		sp.dense = uint64(sp.hi-sp.lo)+1 <= 4*uint64(n)
		out = append(out, sp)
		s = s[n:]
	}
	return out
}
