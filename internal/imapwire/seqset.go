package imapwire

import (
	"slices"
	"strconv"
	"strings"
)

// SeqRange is one range of a sequence set; 0 stands for "*" (the largest
// number in use). Start may be greater than Stop (RFC 9051 §9: "4:2" is
// "2:4").
type SeqRange struct{ Start, Stop uint32 }

// SeqSet is a parsed sequence set. SearchRes marks "$", the saved search
// result of RFC 5182; Ranges is then empty.
type SeqSet struct {
	Ranges    []SeqRange
	SearchRes bool
}

// Resolve replaces "*" by max and returns sorted, merged, non-overlapping
// ranges with Start <= Stop. Ranges wholly above max are kept (UID sets may
// name UIDs not in use); callers test membership with Contains.
func (s SeqSet) Resolve(max uint32) []SeqRange {
	out := make([]SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		if r.Start == 0 {
			r.Start = max
		}
		if r.Stop == 0 {
			r.Stop = max
		}
		if r.Start > r.Stop {
			r.Start, r.Stop = r.Stop, r.Start
		}
		if r.Start == 0 { // "*" in an empty mailbox
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b SeqRange) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(r.Start) <= uint64(merged[n-1].Stop)+1 {
			if r.Stop > merged[n-1].Stop {
				merged[n-1].Stop = r.Stop
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// RangesContain reports whether n lies in resolved ranges (from Resolve).
func RangesContain(ranges []SeqRange, n uint32) bool {
	i, found := slices.BinarySearchFunc(ranges, n, func(r SeqRange, n uint32) int {
		switch {
		case r.Stop < n:
			return -1
		case r.Start > n:
			return 1
		}
		return 0
	})
	_ = i
	return found
}

// String formats the set in wire syntax.
func (s SeqSet) String() string {
	if s.SearchRes {
		return "$"
	}
	var sb strings.Builder
	for i, r := range s.Ranges {
		if i > 0 {
			sb.WriteByte(',')
		}
		writeSeqNum(&sb, r.Start)
		if r.Stop != r.Start {
			sb.WriteByte(':')
			writeSeqNum(&sb, r.Stop)
		}
	}
	return sb.String()
}

func writeSeqNum(sb *strings.Builder, n uint32) {
	if n == 0 {
		sb.WriteByte('*')
		return
	}
	sb.WriteString(strconv.FormatUint(uint64(n), 10))
}

// FormatNumSet formats sorted numbers compactly as a sequence set
// ("1:3,7"), as used in COPYUID, APPENDUID and ESEARCH ALL.
func FormatNumSet(nums []uint32) string {
	var sb strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			sb.WriteByte(':')
			sb.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return sb.String()
}
