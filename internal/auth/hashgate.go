package auth

import (
	"runtime/debug"
	"sync"
	"time"
)

// hashGate bounds the password hashes (argon2id, 64 MiB each) that run at
// once, and gives their memory back to the operating system after a burst.
//
// Why the second part: Go's collector sets its next goal from the heap
// that was live at the last collection. A collection that runs while a few
// hashes hold their 64 MiB each sets a goal of several hundred MiB, and
// everything a busy server allocates afterwards (thousands of logins and
// SELECTs) piles up to that goal before the next collection: measured,
// 10,000 IDLE connections cost 57 KiB each instead of about 6 KiB. One
// forced collection once the hashing has stopped for a moment resets the
// goal and returns the freed memory.
type hashGate struct {
	slots chan struct{}
	quiet time.Duration // how long no hash must run before release
	// release runs after a burst; debug.FreeOSMemory except in tests.
	release func()

	mu      sync.Mutex
	running int
	timer   *time.Timer
}

func newHashGate(n int) *hashGate {
	return &hashGate{slots: make(chan struct{}, n), quiet: 250 * time.Millisecond, release: debug.FreeOSMemory}
}

// do runs f holding a slot.
func (g *hashGate) do(f func()) {
	g.slots <- struct{}{}
	g.mu.Lock()
	g.running++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.running--
		if g.running == 0 {
			if g.timer == nil {
				g.timer = time.AfterFunc(g.quiet, g.fire)
			} else {
				g.timer.Reset(g.quiet)
			}
		}
		g.mu.Unlock()
		<-g.slots
	}()
	f()
}

// fire is the timer: release unless a hash started meanwhile (its end
// sets the timer again).
func (g *hashGate) fire() {
	g.mu.Lock()
	busy := g.running > 0
	g.mu.Unlock()
	if !busy {
		g.release()
	}
}
