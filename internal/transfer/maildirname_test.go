package transfer

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplitMaildirName(t *testing.T) {
	cases := []struct{ name, base, info string }{
		{"1700000000.M1P2.host,S=10:2,FS", "1700000000.M1P2.host,S=10", "2,FS"},
		{"1700000000.M1P2.host", "1700000000.M1P2.host", ""},
		{"1700000000.M1P2.host!2,S", "1700000000.M1P2.host", "2,S"},
		{"1700000000.M1P2.host;2,", "1700000000.M1P2.host", "2,"},
		{"odd:name:2,R", "odd:name", "2,R"},
		{"x:1,experimental", "x", "1,experimental"},
	}
	for _, c := range cases {
		base, info := splitMaildirName(c.name)
		if base != c.base || info != c.info {
			t.Errorf("splitMaildirName(%q) = %q %q, want %q %q", c.name, base, info, c.base, c.info)
		}
	}
}

func TestMaildirInfoFlags(t *testing.T) {
	keywords := []string{"$Junk", "work", "", "later"}
	got := parseMaildirInfo("2,DFPRSTabdz", keywords)
	want := []string{`\Draft`, `\Flagged`, "$Forwarded", `\Answered`, `\Seen`, `\Deleted`, "$Junk", "work", "later"}
	if !slices.Equal(got, want) {
		t.Errorf("parseMaildirInfo = %q, want %q", got, want)
	}
	if got := parseMaildirInfo("1,S", keywords); got != nil {
		t.Errorf("experimental info gave flags %q", got)
	}
	index := map[string]int{"$junk": 0, "work": 1, "later": 3}
	info, dropped := formatMaildirInfo([]string{`\Seen`, "WORK", `\Answered`, "$Forwarded", "unknown", `\Recent`, `\seen`}, index)
	if info != "2,PRSb" || dropped != 1 {
		t.Errorf("formatMaildirInfo = %q dropped %d, want 2,PRSb dropped 1", info, dropped)
	}
}

func TestMaildirDate(t *testing.T) {
	named := time.Unix(1700000000, 0)
	base := "1700000000.M1P2.host"
	if got := maildirDate(named.Add(-48*time.Hour), base); !got.Equal(named.Add(-48 * time.Hour)) {
		t.Errorf("older mtime (APPEND with a date) not kept: %v", got)
	}
	if got := maildirDate(named.Add(30*24*time.Hour), base); !got.Equal(named) {
		t.Errorf("copied file's mtime not replaced by the name's time: %v", got)
	}
	mt := time.Unix(1600000000, 5)
	if got := maildirDate(mt, "noTimeHere"); !got.Equal(mt) {
		t.Errorf("no name time: %v", got)
	}
}

// FuzzMaildirName parses arbitrary file names: flags from the info part
// must format back to an info that parses to the same flags.
func FuzzMaildirName(f *testing.F) {
	f.Add("1700000000.M1P2.host,S=10:2,FS")
	f.Add("x!2,abcDEFPRST")
	f.Add("x;2,zzzz::2,")
	f.Add(":2,")
	f.Add("1:1,2,S")
	keywords := []string{"k0", "k1", "k2", "$Junk", "", "k5", "$Forwarded"}
	index := map[string]int{"k0": 0, "k1": 1, "k2": 2, "$junk": 3, "k5": 5, "$forwarded": 6}
	f.Fuzz(func(t *testing.T, name string) {
		base, info := splitMaildirName(name)
		if info != "" && !strings.HasPrefix(name, base) {
			t.Fatalf("base %q is not a prefix of %q", base, name)
		}
		maildirNameTime(base)
		flags := parseMaildirInfo(info, keywords)
		again, dropped := formatMaildirInfo(flags, index)
		if dropped != 0 {
			t.Fatalf("flags %q from %q lost %d keywords", flags, name, dropped)
		}
		if got := parseMaildirInfo(again, keywords); !slices.Equal(sortedLower(got), sortedLower(flags)) {
			t.Fatalf("%q → %q → %q → %q", name, flags, again, got)
		}
	})
}

func sortedLower(flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = strings.ToLower(f)
	}
	slices.Sort(out)
	return out
}

func TestMUTF7(t *testing.T) {
	cases := []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"a&b", "a&-b"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	}
	for _, c := range cases {
		if got := encodeMUTF7(c.utf8); got != c.mutf7 {
			t.Errorf("encode(%q) = %q, want %q", c.utf8, got, c.mutf7)
		}
		if got, ok := decodeMUTF7(c.mutf7); !ok || got != c.utf8 {
			t.Errorf("decode(%q) = %q %v, want %q", c.mutf7, got, ok, c.utf8)
		}
	}
	for _, bad := range []string{"&", "&AGE", "&AGE-", "a&Z-"} {
		if got, ok := decodeMUTF7(bad); ok {
			t.Errorf("decode(%q) = %q, want failure", bad, got)
		}
	}
}

func TestFolderLevelEscapes(t *testing.T) {
	for _, name := range []string{"plain", "a.b", `back\slash`, "Entwürfe.2024", "&amp"} {
		enc := encodeFolderLevel(name)
		if strings.Contains(enc, ".") {
			t.Errorf("encoded %q still has a dot: %q", name, enc)
		}
		if got := decodeFolderLevel(enc); got != name {
			t.Errorf("level %q → %q → %q", name, enc, got)
		}
	}
	if got := maildirPlusPath("Sub/a.b"); got != `.Sub.a\2eb` {
		t.Errorf("maildirPlusPath = %q", got)
	}
	if got := maildirPlusPath("inbox"); got != "" {
		t.Errorf("INBOX path = %q", got)
	}
}
