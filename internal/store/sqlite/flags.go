package sqlite

import (
	"strings"

	"github.com/postern/postern/internal/store"
)

var systemFlags = []string{store.FlagSeen, store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagDraft}

// normFlags canonicalizes system flags (`\seen` → `\Seen`), drops \Recent
// (never stored) and unknown backslash flags, keeps keywords as given and
// removes duplicates case-insensitively, keeping the first spelling.
func normFlags(in []string) []string {
	out := make([]string, 0, len(in))
	for _, f := range in {
		if f == "" || strings.ContainsAny(f, " \t\r\n") {
			continue
		}
		if f[0] == '\\' {
			canon := ""
			for _, s := range systemFlags {
				if strings.EqualFold(s, f) {
					canon = s
				}
			}
			if canon == "" {
				continue
			}
			f = canon
		}
		if !hasFlag(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func hasFlag(flags []string, f string) bool {
	for _, g := range flags {
		if strings.EqualFold(g, f) {
			return true
		}
	}
	return false
}

// applyFlags computes the new flag list of one message.
func applyFlags(cur []string, op store.FlagOp, flags []string) []string {
	switch op {
	case store.FlagsReplace:
		return flags
	case store.FlagsAdd:
		out := append([]string(nil), cur...)
		for _, f := range flags {
			if !hasFlag(out, f) {
				out = append(out, f)
			}
		}
		return out
	default:
		out := make([]string, 0, len(cur))
		for _, f := range cur {
			if !hasFlag(flags, f) {
				out = append(out, f)
			}
		}
		return out
	}
}

// sameFlags compares flag sets case-insensitively, ignoring order.
func sameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !hasFlag(b, f) {
			return false
		}
	}
	return true
}

func joinFlags(f []string) string { return strings.Join(f, " ") }

func splitFlags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
