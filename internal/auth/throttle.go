package auth

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Throttle slows repeated failed logins: each failure from an address or
// against an account doubles the delay before that address's or account's
// next check (from 250 ms up to 16 s); a success for an account clears the
// account's record. Entries expire after 15 minutes without failures. It is
// safe for concurrent use.
type Throttle struct {
	mu        sync.Mutex
	byAddr    map[netip.Addr]*failures
	byAccount map[string]*failures
	now       func() time.Time
	base, max time.Duration
	forget    time.Duration
}

type failures struct {
	count int
	last  time.Time
}

// NewThrottle returns a throttle with the default curve.
func NewThrottle() *Throttle {
	return &Throttle{
		byAddr:    make(map[netip.Addr]*failures),
		byAccount: make(map[string]*failures),
		now:       time.Now,
		base:      250 * time.Millisecond,
		max:       16 * time.Second,
		forget:    15 * time.Minute,
	}
}

func (t *Throttle) delayFor(f *failures, now time.Time) time.Duration {
	if f == nil || f.count == 0 || now.Sub(f.last) > t.forget {
		return 0
	}
	d := t.base << min(f.count-1, 10)
	if d > t.max {
		d = t.max
	}
	return d
}

// Delay is how long a login from addr for user waits now.
func (t *Throttle) Delay(addr netip.Addr, user string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	return max(t.delayFor(t.byAddr[addr], now), t.delayFor(t.byAccount[strings.ToLower(user)], now))
}

// Wait sleeps for the current delay or until ctx ends.
func (t *Throttle) Wait(ctx context.Context, addr netip.Addr, user string) error {
	d := t.Delay(addr, user)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Failed records a failed login.
func (t *Throttle) Failed(addr netip.Addr, user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	bump := func(m map[string]*failures, k string) {
		f := m[k]
		if f == nil || now.Sub(f.last) > t.forget {
			f = &failures{}
			m[k] = f
		}
		f.count++
		f.last = now
	}
	bump(t.byAccount, strings.ToLower(user))
	f := t.byAddr[addr]
	if f == nil || now.Sub(f.last) > t.forget {
		f = &failures{}
		t.byAddr[addr] = f
	}
	f.count++
	f.last = now
	if len(t.byAddr) > 100000 || len(t.byAccount) > 100000 {
		t.pruneLocked(now)
	}
}

// Succeeded clears the account's failures (not the address's: an attacker
// with one valid account must not reset its address).
func (t *Throttle) Succeeded(addr netip.Addr, user string) {
	t.mu.Lock()
	delete(t.byAccount, strings.ToLower(user))
	t.mu.Unlock()
}

func (t *Throttle) pruneLocked(now time.Time) {
	for k, f := range t.byAddr {
		if now.Sub(f.last) > t.forget {
			delete(t.byAddr, k)
		}
	}
	for k, f := range t.byAccount {
		if now.Sub(f.last) > t.forget {
			delete(t.byAccount, k)
		}
	}
}
