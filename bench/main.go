// Command bench measures postern against Debian's Dovecot on the same
// machine, on loopback, with the same accounts and the same workloads run in
// alternation (A B A B …), and prints a Markdown table of medians and ratios.
//
//	go run ./bench            # quick mode, under 3 minutes
//	go run ./bench -full      # every workload at full size
//	go run ./bench -json out.json -svg ratios.svg
//
// It installs dovecot-imapd, dovecot-pop3d and dovecot-lmtpd when they are
// missing (as root), runs both servers in a temporary directory on
// 127.0.0.1 high ports, and stops both when done, on failure too. Every loop
// is bounded in count and in time.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	full     bool
	rounds   int
	only     string
	jsonOut  string
	svgOut   string
	keep     bool
	timeout  time.Duration
	verbose  bool
	dovecot  bool
	workRoot string
	bin      string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == floorServerArg {
		n, err := strconv.Atoi(os.Args[2])
		if err == nil {
			err = idleFloorServe(n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "idle floor writer:", err)
			os.Exit(1)
		}
		return
	}
	var c config
	flag.BoolVar(&c.full, "full", false, "full mode: every workload at full size (takes much longer)")
	flag.IntVar(&c.rounds, "rounds", 0, "alternating rounds per workload (default 3 quick, 5 full)")
	flag.StringVar(&c.only, "only", "", "run only workloads whose name contains this text")
	flag.StringVar(&c.jsonOut, "json", "bench/results/latest.json", "also write the results as JSON to this file (empty: none)")
	flag.StringVar(&c.svgOut, "svg", "bench/results/latest.svg", "also write a chart of the ratios as SVG to this file (empty: none)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (logs, stores)")
	flag.DurationVar(&c.timeout, "timeout", 0, "give up after this long (default 10m quick, 120m full)")
	flag.BoolVar(&c.verbose, "v", false, "log each run")
	flag.BoolVar(&c.dovecot, "dovecot", true, "compare with Dovecot (false: postern alone)")
	flag.StringVar(&c.workRoot, "dir", "", "parent of the temporary directory (default $TMPDIR)")
	flag.StringVar(&c.bin, "postern", "", "run this postern binary instead of building ./cmd/postern (to compare two builds)")
	flag.Parse()
	if c.rounds == 0 {
		c.rounds = 3
		if c.full {
			c.rounds = 5
		}
	}
	if c.timeout == 0 {
		c.timeout = 10 * time.Minute
		if c.full {
			c.timeout = 120 * time.Minute
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// target is one server under test, as the workloads see it.
type target struct {
	name     string
	scratch  string // a directory for generated corpora, shared by targets
	imap     string
	pop3     string
	lmtp     string
	password string
	// maildirOf gives the Maildir of a user for servers whose store is a
	// Maildir (Dovecot); nil for postern.
	maildirOf func(user string) string
	// pids lists the server's processes (memory measurements).
	pids func() []int
	// idle holds IDLE measurements not yet reported by follower rows.
	idle []idleResult
	// load bulk-loads a prepared Maildir corpus into a user's INBOX.
	load func(ctx context.Context, user, maildir string) error
	// settle, when not nil, waits for the server's background work after
	// a load (postern's text indexer) and says how long it took.
	settle func(ctx context.Context) (time.Duration, error)
}

type ports struct{ imap, pop3, lmtp int }

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func waitListening(ctx context.Context, port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on %s after %v", addr, limit)
}

func logFile(path string) (io.Writer, io.Writer) {
	f, err := os.Create(path)
	if err != nil {
		return io.Discard, io.Discard
	}
	return f, f
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// result is one workload measured on both servers.
type result struct {
	Workload string    `json:"workload"`
	Unit     string    `json:"unit"`
	Higher   bool      `json:"higher_is_better"`
	Postern  []float64 `json:"postern"`
	Dovecot  []float64 `json:"dovecot,omitempty"`
	Note     string    `json:"note,omitempty"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minmax(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// ratio is how many times better postern is: >1 means postern wins,
// whether the unit is a rate (higher is better) or a time or size.
func (r result) ratio() float64 {
	p, d := median(r.Postern), median(r.Dovecot)
	if p == 0 || d == 0 {
		return 0
	}
	if r.Higher {
		return p / d
	}
	return d / p
}

func run(ctx context.Context, c config, out io.Writer) error {
	dir, err := os.MkdirTemp(c.workRoot, "postern-bench-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if c.keep {
		logf("working directory %s (kept)", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	start := time.Now()
	users := map[string]string{}
	for _, u := range benchUsers {
		users[u] = "bench-password"
	}

	pt, err := startPostern(ctx, filepath.Join(dir, "postern"), c.bin, users)
	if err != nil {
		return err
	}
	defer pt.stop()
	targets := []*target{pt.target()}
	targets[0].scratch = dir

	if c.dovecot {
		if err := ensureDovecot(ctx, logf); err != nil {
			return err
		}
		p, err := freePorts(3)
		if err != nil {
			return err
		}
		dv, err := startDovecot(ctx, filepath.Join(dir, "dovecot"), ports{p[0], p[1], p[2]}, users)
		if err != nil {
			return err
		}
		defer dv.stop()
		targets = append(targets, dv.target())
		targets[1].scratch = dir
	}
	logf("servers up in %v", time.Since(start).Round(time.Millisecond))

	var results []result
	for _, w := range workloads(c.full) {
		if c.only != "" && !strings.Contains(w.name, c.only) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before %q: %v", w.name, err)
		}
		r, err := measure(ctx, c, w, targets)
		if err != nil {
			// Keep what was measured: print and save it, then fail.
			writeResults(out, results, c, time.Since(start))
			return fmt.Errorf("%s: %w", w.name, err)
		}
		results = append(results, r)
		logf("%-44s postern %s  dovecot %s", w.name, fmtVal(median(r.Postern), r.Unit), fmtVal(median(r.Dovecot), r.Unit))
	}
	return writeResults(out, results, c, time.Since(start))
}

// writeResults prints the table and writes the JSON and SVG files asked for.
func writeResults(out io.Writer, results []result, c config, took time.Duration) error {
	writeTable(out, results, c, took)
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"date": time.Now().UTC().Format(time.RFC3339), "mode": modeName(c), "rounds": c.rounds,
			"machine": machineLine(), "results": results,
		}, "", "  ")
		if err := writeFile(c.jsonOut, b); err != nil {
			return err
		}
		logf("results written to %s", c.jsonOut)
	}
	if c.svgOut != "" {
		if err := writeFile(c.svgOut, chartSVG(results)); err != nil {
			return err
		}
		logf("chart written to %s", c.svgOut)
	}
	return nil
}

// writeFile writes b to name, making its directory first.
func writeFile(name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, b, 0o644)
}

func modeName(c config) string {
	if c.full {
		return "full"
	}
	return "quick"
}

// settle waits for t's background work, when it has a way to tell, and
// logs the wait when it is over a second.
func settle(ctx context.Context, t *target, before string) error {
	if t.settle == nil {
		return nil
	}
	d, err := t.settle(ctx)
	if err != nil {
		return fmt.Errorf("settle on %s: %w", t.name, err)
	}
	if d > time.Second {
		logf("  %s's background text indexer caught up in %v before %s", t.name, d.Round(100*time.Millisecond), before)
	}
	return nil
}

// measure runs a workload on every target in alternation, c.rounds times.
func measure(ctx context.Context, c config, w workload, targets []*target) (result, error) {
	r := result{Workload: w.name, Unit: w.unit, Higher: w.higher, Note: w.note}
	for _, t := range targets {
		if w.setup != nil {
			if err := w.setup(ctx, t); err != nil {
				return r, fmt.Errorf("setup on %s: %w", t.name, err)
			}
		}
		// Every workload starts with the server's background work done:
		// postern's text indexer, after the messages the rows before
		// added (the APPEND rows' 1 MiB texts, the POP3 rows' mailboxes),
		// would otherwise run beside this one's rounds.
		if err := settle(ctx, t, "this workload"); err != nil {
			return r, err
		}
	}
	rounds := c.rounds
	if w.rounds > 0 && w.rounds < rounds {
		rounds = w.rounds
	}
	for i := 0; i < rounds; i++ {
		for _, t := range targets {
			if w.prepare != nil {
				if err := w.prepare(ctx, t); err != nil {
					return r, fmt.Errorf("prepare on %s: %w", t.name, err)
				}
				// So does every round after its own preparation (the
				// POP3 rows load their mailbox again each round).
				if err := settle(ctx, t, fmt.Sprintf("round %d", i+1)); err != nil {
					return r, err
				}
			}
			// Start every run with no dirty pages of the previous one
			// (the other server's, often) waiting to be written back:
			// writeback competes with the fsyncs being measured.
			syscall.Sync()
			rctx, cancel := context.WithTimeout(ctx, w.limit)
			v, err := w.run(rctx, t)
			cancel()
			if err != nil {
				return r, fmt.Errorf("round %d on %s: %w", i+1, t.name, err)
			}
			if c.verbose {
				logf("  %s round %d: %s", t.name, i+1, fmtVal(v, w.unit))
			}
			if t.name == "postern" {
				r.Postern = append(r.Postern, v)
			} else {
				r.Dovecot = append(r.Dovecot, v)
			}
		}
	}
	return r, nil
}

func fmtVal(v float64, unit string) string {
	switch {
	case v == 0:
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.3g %s", v, unit)
	}
}

func machineLine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores", cpu, numCPU())
}
