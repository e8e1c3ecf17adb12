package auth

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Throttle slows repeated failed logins (DESIGN.md §5). Each failure from an
// address, or against a login name, doubles the delay before that address's
// or name's next check: 250 ms, 500 ms, 1 s … up to 16 s. Records expire
// after 15 minutes without failures.
//
// A success clears the name's record (not the address's: an attacker with
// one valid account must not reset its address) and remembers the address
// as known-good for that name for a week. Known-good addresses skip the
// per-name delay and the lockout, so an attack on a name from elsewhere does
// not lock its owner out of the places they usually log in from.
//
// With a lockout configured (Service Config.LockoutThreshold), a name with
// that many failures in a row is locked for the lockout duration: checks
// still run but fail.
//
// A Throttle is safe for concurrent use. Its memory is bounded: past 100,000
// names or addresses, expired records are pruned.
type Throttle struct {
	mu        sync.Mutex
	byAddr    map[netip.Addr]*failures
	byAccount map[string]*failures
	knownGood map[string]map[netip.Addr]time.Time

	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	base, max time.Duration
	forget    time.Duration
	goodFor   time.Duration
	lockAfter int
	lockFor   time.Duration
}

type failures struct {
	count       int
	last        time.Time
	lockedUntil time.Time
}

// NewThrottle returns a throttle with the default curve and no lockout.
func NewThrottle() *Throttle {
	return &Throttle{
		byAddr:    make(map[netip.Addr]*failures),
		byAccount: make(map[string]*failures),
		knownGood: make(map[string]map[netip.Addr]time.Time),
		now:       time.Now,
		sleep:     sleepCtx,
		base:      250 * time.Millisecond,
		max:       16 * time.Second,
		forget:    15 * time.Minute,
		goodFor:   7 * 24 * time.Hour,
		lockFor:   15 * time.Minute,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Throttle) delayFor(f *failures, now time.Time) time.Duration {
	if f == nil || f.count == 0 || now.Sub(f.last) > t.forget {
		return 0
	}
	d := t.base << min(f.count-1, 16)
	if d > t.max || d <= 0 {
		d = t.max
	}
	return d
}

// isKnownGoodLocked reports whether addr logged in as user recently.
func (t *Throttle) isKnownGoodLocked(addr netip.Addr, user string, now time.Time) bool {
	seen, ok := t.knownGood[user][addr]
	return ok && now.Sub(seen) <= t.goodFor
}

// Delay is how long a login from addr for user waits now.
func (t *Throttle) Delay(addr netip.Addr, user string) time.Duration {
	user = strings.ToLower(user)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	d := t.delayFor(t.byAddr[addr], now)
	if user != "" && !t.isKnownGoodLocked(addr, user, now) {
		d = max(d, t.delayFor(t.byAccount[user], now))
	}
	return d
}

// Locked reports whether user is locked out for logins from addr.
func (t *Throttle) Locked(addr netip.Addr, user string) bool {
	user = strings.ToLower(user)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.byAccount[user]
	return f != nil && now.Before(f.lockedUntil) && !t.isKnownGoodLocked(addr, user, now)
}

// Wait sleeps for the current delay or until ctx ends.
func (t *Throttle) Wait(ctx context.Context, addr netip.Addr, user string) error {
	d := t.Delay(addr, user)
	if d <= 0 {
		return nil
	}
	return t.sleep(ctx, d)
}

// Failed records a failed login. user may be empty when the mechanism
// failed before naming anyone.
func (t *Throttle) Failed(addr netip.Addr, user string) {
	user = strings.ToLower(user)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	bump := func(f *failures) *failures {
		if f == nil || now.Sub(f.last) > t.forget {
			f = &failures{}
		}
		f.count++
		f.last = now
		return f
	}
	// Failures without a name (a broken GSSAPI token) count per address
	// only.
	if user != "" {
		fa := bump(t.byAccount[user])
		if t.lockAfter > 0 && fa.count >= t.lockAfter {
			fa.lockedUntil = now.Add(t.lockFor)
		}
		t.byAccount[user] = fa
	}
	t.byAddr[addr] = bump(t.byAddr[addr])
	if len(t.byAddr) > 100000 || len(t.byAccount) > 100000 || len(t.knownGood) > 100000 {
		t.pruneLocked(now)
	}
}

// Succeeded clears the name's failures and remembers addr as known-good
// for it.
func (t *Throttle) Succeeded(addr netip.Addr, user string) {
	user = strings.ToLower(user)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byAccount, user)
	if !addr.IsValid() {
		return
	}
	now := t.now()
	good := t.knownGood[user]
	if good == nil {
		good = make(map[netip.Addr]time.Time)
		t.knownGood[user] = good
	}
	if _, ok := good[addr]; !ok && len(good) >= 16 {
		// Keep the most recent few: drop the oldest.
		var oldest netip.Addr
		var at time.Time
		for a, seen := range good {
			if at.IsZero() || seen.Before(at) {
				oldest, at = a, seen
			}
		}
		delete(good, oldest)
	}
	good[addr] = now
}

func (t *Throttle) pruneLocked(now time.Time) {
	for k, f := range t.byAddr {
		if now.Sub(f.last) > t.forget {
			delete(t.byAddr, k)
		}
	}
	for k, f := range t.byAccount {
		if now.Sub(f.last) > t.forget && now.After(f.lockedUntil) {
			delete(t.byAccount, k)
		}
	}
	for k, good := range t.knownGood {
		for a, seen := range good {
			if now.Sub(seen) > t.goodFor {
				delete(good, a)
			}
		}
		if len(good) == 0 {
			delete(t.knownGood, k)
		}
	}
}
