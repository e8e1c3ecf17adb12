package dovecotdiff

import (
	"fmt"
	"strings"
)

// unifiedDiff returns a line diff of a (Dovecot, "-") against b (postern,
// "+") with two lines of context, or "" when they are equal. Inputs are a
// few hundred lines at most, so the quadratic LCS table is fine.
func unifiedDiff(a, b []string) (string, []string) {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, op{'+', b[j]})
			j++
		default:
			ops = append(ops, op{'-', a[i]})
			i++
		}
	}
	var changed []string
	show := make([]bool, len(ops))
	for k, o := range ops {
		if o.kind != ' ' {
			changed = append(changed, string(o.kind)+o.text)
			for d := max(0, k-2); d <= min(len(ops)-1, k+2); d++ {
				show[d] = true
			}
		}
	}
	if len(changed) == 0 {
		return "", nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- dovecot\n+++ postern\n")
	for k, o := range ops {
		if !show[k] {
			if k > 0 && show[k-1] {
				sb.WriteString("@@\n")
			}
			continue
		}
		fmt.Fprintf(&sb, "%c%s\n", o.kind, clip(o.text))
	}
	return sb.String(), changed
}

// clip keeps report lines readable: long literals are cut.
func clip(s string) string {
	s = strings.ReplaceAll(s, "\r\n", `\r\n`)
	if len(s) > 1200 {
		return s[:1200] + "…"
	}
	return s
}
