package transfer

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// splitAll splits an mbox and returns the From_ lines and bodies.
func splitAll(t testing.TB, data string, v MboxVariant) (froms, bodies []string, err error) {
	sp := newMboxSplitter(strings.NewReader(data), v)
	for {
		msg, err := sp.Next()
		if err == io.EOF {
			return froms, bodies, nil
		}
		if err != nil {
			return froms, bodies, err
		}
		b, err := io.ReadAll(msg.Body)
		if err != nil {
			return froms, bodies, err
		}
		froms = append(froms, msg.From)
		bodies = append(bodies, string(b))
	}
}

func TestMboxSplitBasic(t *testing.T) {
	data := "From a@example.org Mon Jan  2 15:04:05 2006\n" +
		"Subject: one\n\nbody one\n\n" +
		"From b@example.org Tue Jan  3 15:04:05 2006\n" +
		"Subject: two\n\nbody two\nFrom here on an unquoted sentence\n\n\n" +
		"From c@example.org Wed Jan  4 15:04:05 2006\n" +
		"Subject: three\n\nno trailing blank\n"
	froms, bodies, err := splitAll(t, data, MboxAuto)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Subject: one\n\nbody one\n",
		"Subject: two\n\nbody two\nFrom here on an unquoted sentence\n\n",
		"Subject: three\n\nno trailing blank\n",
	}
	if len(bodies) != len(want) {
		t.Fatalf("got %d messages %q, want %d", len(bodies), bodies, len(want))
	}
	for i := range want {
		if bodies[i] != want[i] {
			t.Errorf("message %d = %q, want %q", i, bodies[i], want[i])
		}
	}
	if froms[1] != "b@example.org Tue Jan  3 15:04:05 2006" {
		t.Errorf("from line = %q", froms[1])
	}
}

func TestMboxSplitCRLF(t *testing.T) {
	data := "From a Mon Jan  2 15:04:05 2006\r\nSubject: x\r\n\r\nbody\r\n\r\nFrom b Mon Jan  2 15:04:05 2006\r\nSubject: y\r\n\r\nz\r\n"
	_, bodies, err := splitAll(t, data, MboxAuto)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || bodies[0] != "Subject: x\r\n\r\nbody\r\n" || bodies[1] != "Subject: y\r\n\r\nz\r\n" {
		t.Fatalf("bodies = %q", bodies)
	}
}

func TestMboxUnescapeVariants(t *testing.T) {
	data := "From a Mon Jan  2 15:04:05 2006\n" +
		"Subject: q\n\n>From one\n>>From two\n>>>From three\n> From not quoted\n>Fromage\n"
	cases := []struct {
		v    MboxVariant
		want string
	}{
		{MboxRD, "Subject: q\n\nFrom one\n>From two\n>>From three\n> From not quoted\n>Fromage\n"},
		{MboxAuto, "Subject: q\n\nFrom one\n>From two\n>>From three\n> From not quoted\n>Fromage\n"},
		{MboxO, "Subject: q\n\nFrom one\n>>From two\n>>>From three\n> From not quoted\n>Fromage\n"},
	}
	for _, c := range cases {
		_, bodies, err := splitAll(t, data, c.v)
		if err != nil {
			t.Fatal(err)
		}
		if len(bodies) != 1 || bodies[0] != c.want {
			t.Errorf("%v: got %q, want %q", c.v, bodies, c.want)
		}
	}
}

// TestMboxSplitContentLength reads an mbox as Dovecot writes it: "From "
// lines in bodies are not quoted, Content-Length gives the body size.
func TestMboxSplitContentLength(t *testing.T) {
	data := "From dave@vm  Wed Nov 25 21:35:06 2026\n" +
		"From: a@example.org\nSubject: one\nX-UID: 1\nStatus: \nContent-Length: 22\n\nFrom here\n>From there\n\n" +
		"From dave@vm  Wed Nov 25 21:35:06 2026\n" +
		"Subject: wrong length\nContent-Length: 3\n\n>From quoted\n\n" +
		"From dave@vm  Wed Nov 25 21:35:06 2026\n" +
		"Subject: last\nContent-Length: 5\n\nbody\n\n"
	_, bodies, err := splitAll(t, data, MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"From: a@example.org\nSubject: one\nX-UID: 1\nStatus: \nContent-Length: 22\n\nFrom here\n>From there\n",
		"Subject: wrong length\nContent-Length: 3\n\nFrom quoted\n",
		"Subject: last\nContent-Length: 5\n\nbody\n",
	}
	if !slices.Equal(bodies, want) {
		t.Errorf("got  %q\nwant %q", bodies, want)
	}
	// Without random access the header cannot be checked and is ignored.
	sp := newMboxSplitter(io.MultiReader(strings.NewReader(data)), MboxRD)
	n := 0
	for {
		_, err := sp.Next()
		if err != nil {
			break
		}
		n++
	}
	if n != 4 {
		t.Errorf("streaming split found %d messages, want 4 (the unquoted From line splits)", n)
	}
}

func TestMboxSplitNotMbox(t *testing.T) {
	_, _, err := splitAll(t, "Subject: no from line\n\nbody\n", MboxAuto)
	if !errors.Is(err, ErrNotMbox) {
		t.Fatalf("err = %v, want ErrNotMbox", err)
	}
	froms, _, err := splitAll(t, "", MboxAuto)
	if err != nil || len(froms) != 0 {
		t.Fatalf("empty file: %v %v", froms, err)
	}
}

func TestMboxSplitLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*splitterBuf+17)
	quoted := ">From " + strings.Repeat("y", 2*splitterBuf)
	msg := "Subject: " + long + "\n\n" + quoted + "\n" + long // no final LF
	var buf bytes.Buffer
	mw := newMboxWriter(&buf)
	if _, err := mw.writeMessage("a@b", time.Unix(0, 0), nil, strings.NewReader(msg), true); err != nil {
		t.Fatal(err)
	}
	if _, err := mw.writeMessage("a@b", time.Unix(0, 0), nil, strings.NewReader("Subject: 2\n\nx\n"), true); err != nil {
		t.Fatal(err)
	}
	mw.Flush()
	_, bodies, err := splitAll(t, buf.String(), MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 || bodies[0] != msg+"\n" || bodies[1] != "Subject: 2\n\nx\n" {
		t.Fatalf("long lines did not survive: %d messages, first %d bytes (want %d)", len(bodies), len(bodies[0]), len(msg)+1)
	}
}

func TestParseFromLine(t *testing.T) {
	cases := []struct {
		in     string
		sender string
		date   time.Time
		ok     bool
	}{
		{"MAILER-DAEMON Fri Jul  8 12:08:34 2011", "MAILER-DAEMON", time.Date(2011, 7, 8, 12, 8, 34, 0, time.UTC), true},
		{"a@b.example Sat Jan 31 23:59:59 2004", "a@b.example", time.Date(2004, 1, 31, 23, 59, 59, 0, time.UTC), true},
		{"a@b Thu Mar 14 09:00:00 +0100 2024", "a@b", time.Date(2024, 3, 14, 8, 0, 0, 0, time.UTC), true},
		{"a@b Thu Mar 14 09:00:00 2024 remote from x", "a@b", time.Date(2024, 3, 14, 9, 0, 0, 0, time.UTC), true},
		{"here on, we go", "", time.Time{}, false},
		{"", "", time.Time{}, false},
	}
	for _, c := range cases {
		s, d, ok := parseFromLine(c.in)
		if ok != c.ok || s != c.sender || !d.Equal(c.date) {
			t.Errorf("parseFromLine(%q) = %q %v %v, want %q %v %v", c.in, s, d, ok, c.sender, c.date, c.ok)
		}
	}
	date := time.Date(2020, 2, 9, 1, 2, 3, 0, time.UTC)
	line := formatFromLine("x@y", date)
	if s, d, ok := parseFromLine(strings.TrimSuffix(line[5:], "\n")); !ok || s != "x@y" || !d.Equal(date) {
		t.Errorf("round trip of %q: %q %v %v", line, s, d, ok)
	}
	if got := formatFromLine("has space", date); !strings.HasPrefix(got, "From MAILER-DAEMON ") {
		t.Errorf("sender with space: %q", got)
	}
}

// mboxWriteAll writes messages (CRLF kept, no flags) and returns the file.
func mboxWriteAll(t testing.TB, msgs []string) string {
	var buf bytes.Buffer
	mw := newMboxWriter(&buf)
	for _, m := range msgs {
		if _, err := mw.writeMessage("s@x", time.Unix(1e9, 0), nil, strings.NewReader(m), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// FuzzMboxSplit splits arbitrary input (it must never fail other than
// with ErrNotMbox, nor yield more bytes than it read), and checks that
// messages written by the mboxrd writer split back to themselves.
func FuzzMboxSplit(f *testing.F) {
	f.Add("From a Mon Jan  2 15:04:05 2006\nSubject: x\n\nFrom me\n>From you\n\n")
	f.Add("From a Mon Jan  2 15:04:05 2006\r\nA: b\r\n\r\n\r\nFrom b Mon Jan  2 15:04:05 2006\r\n")
	f.Add("\n\nFrom \nFrom \n\n\nFrom x")
	f.Add(">From x\x00\x01From y")
	f.Add("Subject: a\x00\x01>>From b\n\x00\x01\x00\x01no newline")
	f.Add("From a Mon Jan  2 15:04:05 2006\nContent-Length: 10\n\nFrom here\n\nFrom b Mon Jan  2 15:04:05 2006\nContent-Length: 99\n\nx\n")
	f.Fuzz(func(t *testing.T, data string) {
		for _, v := range []MboxVariant{MboxO, MboxRD} {
			_, bodies, err := splitAll(t, data, v)
			if err != nil && !errors.Is(err, ErrNotMbox) {
				t.Fatalf("split: %v", err)
			}
			total := 0
			for _, b := range bodies {
				total += len(b)
				// The header filter never fails on bytes and never grows them.
				r, _, err := readMboxMeta(strings.NewReader(b), false, nil)
				if err != nil {
					t.Fatal(err)
				}
				if out, _ := io.ReadAll(r); len(out) > len(b) {
					t.Fatalf("meta filter grew %q to %q", b, out)
				}
			}
			if total > len(data) {
				t.Fatalf("bodies hold %d bytes of %d input", total, len(data))
			}
		}
		// The input as a list of messages separated by "\x00\x01". A
		// message with its own Content-Length may be read as mboxcl2 (an
		// ambiguity of the format), so those are left out.
		if strings.Contains(strings.ToLower(data), "content-length:") {
			return
		}
		msgs := strings.Split(data, "\x00\x01")
		_, bodies, err := splitAll(t, mboxWriteAll(t, msgs), MboxRD)
		if err != nil {
			t.Fatal(err)
		}
		if len(bodies) != len(msgs) {
			t.Fatalf("wrote %d messages, read %d", len(msgs), len(bodies))
		}
		for i, m := range msgs {
			want := m
			if m != "" && !strings.HasSuffix(m, "\n") {
				want += "\n"
			}
			if bodies[i] != want {
				t.Fatalf("message %d: wrote %q, read %q", i, want, bodies[i])
			}
		}
	})
}
