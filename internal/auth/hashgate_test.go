package auth

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A burst of concurrent hashes releases memory once, after the last one
// ends; never while one runs.
func TestHashGateReleasesAfterBurst(t *testing.T) {
	g := newHashGate(2)
	g.quiet = 20 * time.Millisecond
	var running, max, releases atomic.Int32
	var releasedWhileRunning atomic.Bool
	g.release = func() {
		if running.Load() > 0 {
			releasedWhileRunning.Store(true)
		}
		releases.Add(1)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.do(func() {
				n := running.Add(1)
				for {
					m := max.Load()
					if n <= m || max.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
			})
		}()
	}
	wg.Wait()
	if m := max.Load(); m != 2 {
		t.Errorf("at most %d hashes ran at once, want 2", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for releases.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(4 * g.quiet)
	if n := releases.Load(); n != 1 {
		t.Errorf("released %d times after one burst, want 1", n)
	}
	if releasedWhileRunning.Load() {
		t.Error("released while a hash ran")
	}
	// A second burst releases again.
	g.do(func() {})
	deadline = time.Now().Add(5 * time.Second)
	for releases.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := releases.Load(); n != 2 {
		t.Errorf("released %d times after two bursts, want 2", n)
	}
}
