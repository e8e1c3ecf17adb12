package transfer

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestParseUIDList(t *testing.T) {
	v3 := "3 V1234567890 N43 G3085f01b7f3ea54f7d0a00006ac2cd51\n" +
		"1 :1700000000.M1P2.host,S=10,W=12:2,S\n" +
		"7 W1333 G1a2b :1700000007.M1P2.host,S=1300\n" +
		"42 :1700000042.M1P2.host\n" +
		"garbage\n"
	ul, err := parseUIDList(strings.NewReader(v3))
	if err != nil {
		t.Fatal(err)
	}
	if ul.UIDValidity != 1234567890 || ul.NextUID != 43 {
		t.Errorf("header = V%d N%d", ul.UIDValidity, ul.NextUID)
	}
	want := map[string]uint32{"1700000000.M1P2.host,S=10,W=12": 1, "1700000007.M1P2.host,S=1300": 7, "1700000042.M1P2.host": 42}
	if len(ul.UIDs) != len(want) {
		t.Fatalf("uids = %v", ul.UIDs)
	}
	for k, v := range want {
		if ul.UIDs[k] != v {
			t.Errorf("uid of %s = %d, want %d", k, ul.UIDs[k], v)
		}
	}
	v1 := "1 99 5\n3 1700000000.M1P2.host:2,S\n"
	ul, err = parseUIDList(strings.NewReader(v1))
	if err != nil || ul.UIDValidity != 99 || ul.NextUID != 5 || ul.UIDs["1700000000.M1P2.host"] != 3 {
		t.Fatalf("v1: %+v %v", ul, err)
	}
	for _, bad := range []string{"", "9 V1 N2\n", "3 N2\n"} {
		if _, err := parseUIDList(strings.NewReader(bad)); err == nil {
			t.Errorf("parseUIDList(%q) accepted", bad)
		}
	}
	var buf bytes.Buffer
	if err := writeUIDList(&buf, 7, 9, map[string]uint32{"b": 8, "a": 2}); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "3 V7 N9\n2 :a\n8 :b\n" {
		t.Errorf("writeUIDList = %q", buf.String())
	}
}

func TestDovecotKeywords(t *testing.T) {
	table, err := parseDovecotKeywords(strings.NewReader("0 $Junk\n2 work\n30 toolarge\nx bad\n3 bad(atom\n"))
	if err != nil {
		t.Fatal(err)
	}
	if table[0] != "$Junk" || table[1] != "" || table[2] != "work" || table[3] != "" {
		t.Errorf("table = %q", table[:4])
	}
	var buf bytes.Buffer
	writeDovecotKeywords(&buf, []string{"a", "", "c"})
	if buf.String() != "0 a\n2 c\n" {
		t.Errorf("write = %q", buf.String())
	}
}

func TestSubscriptionsFile(t *testing.T) {
	v2 := "V\t2\n\nINBOX\nSub\tFolder\nEntw&APw-rfe\n"
	got, err := parseSubscriptions(strings.NewReader(v2))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1][0] != "Sub/Folder" || got[2][0] != "Entwürfe" {
		t.Errorf("v2 = %q", got)
	}
	old := "INBOX\nSub.Folder\nplain/one\n"
	got, err = parseSubscriptions(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !slices.Equal(got[1], []string{"Sub/Folder", "Sub.Folder"}) || got[2][0] != "plain/one" {
		t.Errorf("old = %q", got)
	}
	var buf bytes.Buffer
	writeSubscriptions(&buf, []string{"INBOX", "Sub/Entwürfe"})
	if buf.String() != "V\t2\n\nINBOX\nSub\tEntw&APw-rfe\n" {
		t.Errorf("write = %q", buf.String())
	}
	back, _ := parseSubscriptions(&buf)
	if len(back) != 2 || back[1][0] != "Sub/Entwürfe" {
		t.Errorf("round trip = %q", back)
	}
}

func TestMboxMeta(t *testing.T) {
	block := "From: a@b\nX-IMAPbase: 1600000000 0000000012 $Junk work\nStatus: RO\nX-Status: AFTD\nX-Keywords: $Junk, work\n  later\nX-UID: 7\nX-Mozilla-Status: 1001\nSubject: s\n\n"
	kept, meta := filterMboxMeta([]byte(block), false, false)
	flags := meta.flags
	if string(kept) != "From: a@b\nSubject: s\n\n" {
		t.Errorf("kept = %q", kept)
	}
	want := []string{`\Seen`, `\Answered`, `\Flagged`, `\Draft`, `\Deleted`, "$Junk", "work", "later", "$Forwarded"}
	if !slices.Equal(flags, want) {
		t.Errorf("flags = %q, want %q", flags, want)
	}
	if meta.uid != 7 || meta.uidValidity != 1600000000 || meta.uidNext != 12 {
		t.Errorf("uid state = %+v", meta)
	}
	kept, _ = filterMboxMeta([]byte(block), true, false)
	if string(kept) != block {
		t.Errorf("keep changed the header: %q", kept)
	}
	lines := string(mboxMetaLines([]string{`\Seen`, `\Flagged`, "work", `\Deleted`}, "\n", 3, "5 0000000009 work"))
	if lines != "X-IMAPbase: 5 0000000009 work\nX-UID: 3\nStatus: RO\nX-Status: FD\nX-Keywords: work\n" {
		t.Errorf("meta lines = %q", lines)
	}
	if lines := string(mboxMetaLines(nil, "\r\n", 0, "")); lines != "Status: O\r\n" {
		t.Errorf("no flags = %q", lines)
	}
}
