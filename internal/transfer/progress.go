package transfer

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress is told how far an import or export is. Import and Export call
// Start once (a total is -1 when unknown: an mbox import knows its bytes
// but not its messages), then Add after each message, then Done.
// Implementations are safe for concurrent use.
type Progress interface {
	Start(totalMessages, totalBytes int64)
	Add(messages, bytes int64)
	Done()
}

type nopProgress struct{}

func (nopProgress) Start(int64, int64) {}
func (nopProgress) Add(int64, int64)   {}
func (nopProgress) Done()              {}

// BarProgress draws a progress bar (schollz/progressbar) on a terminal:
// bytes done of the total, rate and ETA, with the message count as the
// description.
type BarProgress struct {
	w        io.Writer
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	msgs     int64
	total    int64
	lastDesc time.Time
}

// NewBarProgress returns a Progress drawing on w (a terminal).
func NewBarProgress(w io.Writer) *BarProgress { return &BarProgress{w: w} }

// Start implements Progress.
func (p *BarProgress) Start(totalMessages, totalBytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.msgs = totalMessages, 0
	max := totalBytes
	if max <= 0 {
		max = -1 // a spinner
	}
	p.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetDescription(p.describe()),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
}

func (p *BarProgress) describe() string {
	if p.total >= 0 {
		return fmt.Sprintf("%d/%d messages", p.msgs, p.total)
	}
	return fmt.Sprintf("%d messages", p.msgs)
}

// Add implements Progress.
func (p *BarProgress) Add(messages, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	p.msgs += messages
	if now := time.Now(); now.Sub(p.lastDesc) >= 100*time.Millisecond {
		p.lastDesc = now
		p.bar.Describe(p.describe())
	}
	p.bar.Add64(bytes)
}

// Done implements Progress.
func (p *BarProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	p.bar.Describe(p.describe())
	if p.bar.GetMax64() > 0 {
		p.bar.Set64(p.bar.GetMax64())
	}
	p.bar.Finish()
	p.bar = nil
}

// LineProgress prints a plain line at most every interval (and one at the
// end), for logs and other non-terminals:
//
//	transfer: 1200/5000 messages, 80.1 MiB/310.0 MiB (25%), 12.3 MiB/s, ETA 19s
type LineProgress struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time

	mu                sync.Mutex
	started, lastLine time.Time
	msgs, bytes       int64
	totalMsgs, totalB int64
}

// NewLineProgress returns a Progress printing to w at most every interval.
func NewLineProgress(w io.Writer, every time.Duration) *LineProgress {
	return &LineProgress{w: w, every: every, now: time.Now}
}

// Start implements Progress.
func (p *LineProgress) Start(totalMessages, totalBytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = p.now()
	p.lastLine = p.started
	p.totalMsgs, p.totalB = totalMessages, totalBytes
	p.msgs, p.bytes = 0, 0
}

// Add implements Progress.
func (p *LineProgress) Add(messages, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs += messages
	p.bytes += bytes
	if now := p.now(); now.Sub(p.lastLine) >= p.every {
		p.lastLine = now
		p.print(now, false)
	}
}

// Done implements Progress.
func (p *LineProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started.IsZero() {
		return // never started (the transfer failed first)
	}
	p.print(p.now(), true)
	p.started = time.Time{}
}

func (p *LineProgress) print(now time.Time, done bool) {
	line := "transfer: "
	if p.totalMsgs >= 0 {
		line += fmt.Sprintf("%d/%d messages", p.msgs, p.totalMsgs)
	} else {
		line += fmt.Sprintf("%d messages", p.msgs)
	}
	if p.totalB > 0 {
		line += fmt.Sprintf(", %s/%s (%d%%)", humanBytes(p.bytes), humanBytes(p.totalB), p.bytes*100/p.totalB)
	} else {
		line += ", " + humanBytes(p.bytes)
	}
	elapsed := now.Sub(p.started)
	if elapsed > 0 {
		rate := float64(p.bytes) / elapsed.Seconds()
		line += fmt.Sprintf(", %s/s", humanBytes(int64(rate)))
		if !done && p.totalB > p.bytes && rate > 0 {
			eta := time.Duration(float64(p.totalB-p.bytes) / rate * float64(time.Second))
			line += ", ETA " + eta.Round(time.Second).String()
		}
	}
	if done {
		line += ", done in " + elapsed.Round(time.Millisecond).String()
	}
	fmt.Fprintln(p.w, line)
}

// humanBytes renders a byte count in IEC units ("12.3 MiB").
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
