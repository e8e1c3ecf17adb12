package sqlite

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postern/postern/internal/store"
)

func TestNormMailboxName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"INBOX", "INBOX"}, {"inbox", "INBOX"}, {"InBoX/Sub", "INBOX/Sub"}, {"Inboxes", "Inboxes"},
		{"a/b/c", "a/b/c"}, {"Entwürfe", "Entwürfe"}, {"x/inbox", "x/inbox"},
		{"", ""}, {"/a", ""}, {"a/", ""}, {"a//b", ""}, {"a\tb", ""}, {"\xff", ""}, {"a\x00", ""},
	}
	for _, c := range cases {
		got, err := normMailboxName(c.in)
		if c.want == "" {
			if !errors.Is(err, store.ErrInvalidName) {
				t.Errorf("%q: got %q, %v; want ErrInvalidName", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzNormMailboxName(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/a", "a/b", "/", "a//b", "Entwürfe/2024", "\x00", "&AOQ-", strings.Repeat("a/", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normMailboxName(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(n) || n == "" || strings.HasPrefix(n, "/") || strings.HasSuffix(n, "/") || strings.Contains(n, "//") {
			t.Fatalf("%q accepted as %q", s, n)
		}
		if again, err := normMailboxName(n); err != nil || again != n {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, n, again, err)
		}
		if !strings.EqualFold(n, s) {
			t.Fatalf("%q changed beyond case: %q", s, n)
		}
	})
}
