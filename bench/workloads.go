package main

import (
	"context"
	"fmt"
	"time"
)

// benchUsers exist on both servers with the same password.
var benchUsers = []string{"deliver", "fetch5k", "fetch10k", "fetch100k", "pop", "append", "idle", "mixed"}

// workload is one measured operation. run returns one value in unit.
type workload struct {
	name   string
	unit   string
	higher bool // true for rates, false for times and sizes
	note   string
	limit  time.Duration // per run
	// follower rows report values measured by the row before them.
	follower bool
	// rounds, when set, caps the rounds of this workload (heavy ones).
	rounds int
	setup  func(ctx context.Context, t *target) error
	// prepare runs before every run, unmeasured.
	prepare func(ctx context.Context, t *target) error
	run     func(ctx context.Context, t *target) (float64, error)
}

// workloads lists what a run measures; full mode uses the full sizes.
func workloads(full bool) []workload {
	n4k, n100k := 150, 30
	if full {
		n4k, n100k = 2000, 400
	}
	var ws []workload
	for _, conns := range []int{1, 8} {
		ws = append(ws, lmtpWorkload(n4k, 4<<10, conns), lmtpWorkload(n100k, 100<<10, conns))
	}
	ws = append(ws, extraWorkloads(full)...)
	return ws
}

func lmtpWorkload(n, size, conns int) workload {
	return workload{
		name:   fmt.Sprintf("LMTP delivery %s, %d conn", sizeName(size), conns),
		unit:   "msg/s",
		higher: true,
		limit:  5 * time.Minute,
		run: func(ctx context.Context, t *target) (float64, error) {
			start := time.Now()
			if err := deliverMany(ctx, t.lmtp, "deliver", n, size, conns); err != nil {
				return 0, err
			}
			return float64(n) / time.Since(start).Seconds(), nil
		},
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
