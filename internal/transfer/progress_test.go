package transfer

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLineProgress(t *testing.T) {
	var out bytes.Buffer
	p := NewLineProgress(&out, 10*time.Second)
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	p.Start(100, 100<<20)
	now = now.Add(5 * time.Second)
	p.Add(10, 10<<20) // before the interval: silent
	if out.Len() != 0 {
		t.Fatalf("printed too early: %q", out.String())
	}
	now = now.Add(5 * time.Second)
	p.Add(10, 10<<20)
	line := out.String()
	for _, want := range []string{"20/100 messages", "20.0 MiB/100.0 MiB (20%)", "2.0 MiB/s", "ETA 40s"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	out.Reset()
	now = now.Add(time.Second)
	p.Done()
	if !strings.Contains(out.String(), "done in 11s") {
		t.Errorf("final line %q", out.String())
	}

	// Done again (or before any Start) prints nothing.
	out.Reset()
	p.Done()
	if out.Len() != 0 {
		t.Errorf("Done without Start printed %q", out.String())
	}

	// Unknown totals (mbox import knows only bytes).
	out.Reset()
	p = NewLineProgress(&out, 0)
	p.now = func() time.Time { return now }
	p.Start(-1, 0)
	p.Add(3, 2048)
	if !strings.Contains(out.String(), "3 messages, 2.0 KiB") {
		t.Errorf("unknown totals: %q", out.String())
	}
}

func TestBarProgress(t *testing.T) {
	var out bytes.Buffer
	p := NewBarProgress(&out)
	p.Start(2, 2000)
	p.Add(1, 1000)
	p.Add(1, 1000)
	p.Done()
	if !strings.Contains(out.String(), "2/2 messages") || !strings.Contains(out.String(), "100%") {
		t.Errorf("bar output %q", out.String())
	}
	// A spinner when the size is unknown; calls after Done are ignored.
	out.Reset()
	p.Start(-1, 0)
	p.Add(5, 10)
	p.Done()
	p.Add(1, 1)
	if !strings.Contains(out.String(), "5 messages") {
		t.Errorf("spinner output %q", out.String())
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
