package sqlite

import "sync"

// freshFlight lets concurrent identical reads share one query without ever
// returning data older than the caller: a caller that arrives while a query
// for its key is running does not join it (that query may have read the
// database before the commit the caller was woken by); it waits for the
// next query, which starts when the running one ends and serves everyone
// who queued meanwhile. A delivery that wakes 10,000 IDLE sessions of one
// mailbox so costs two or three queries instead of 10,000.
//
// golang.org/x/sync/singleflight shares the running call, which is exactly
// the stale read this must avoid, hence this small type. Safe for
// concurrent use.
type freshFlight struct {
	mu    sync.Mutex
	state map[string]*flightKey
}

type flightKey struct {
	running bool
	next    *flightCall // callers waiting for the next query
}

type flightCall struct {
	done    chan struct{}
	callers int
	val     any
	err     error
}

// Do returns fn's result from a call that started after Do was entered.
// shared reports that other callers got the same value (they must not
// modify it in place).
func (f *freshFlight) Do(key string, fn func() (any, error)) (val any, err error, shared bool) {
	f.mu.Lock()
	if f.state == nil {
		f.state = make(map[string]*flightKey)
	}
	k := f.state[key]
	if k == nil {
		k = &flightKey{}
		f.state[key] = k
	}
	if k.next == nil {
		k.next = &flightCall{done: make(chan struct{})}
	}
	c := k.next
	c.callers++
	if k.running {
		f.mu.Unlock()
		<-c.done
		return c.val, c.err, true
	}
	k.running, k.next = true, nil
	f.mu.Unlock()
	f.run(key, k, c, fn)
	f.mu.Lock()
	shared = c.callers > 1
	f.mu.Unlock()
	return c.val, c.err, shared
}

// run executes c, then the calls queued behind it, one after another.
func (f *freshFlight) run(key string, k *flightKey, c *flightCall, fn func() (any, error)) {
	c.val, c.err = fn()
	close(c.done)
	f.mu.Lock()
	next := k.next
	k.next = nil
	if next == nil {
		k.running = false
		delete(f.state, key)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	// The queued callers wait on next.done; serve them from another
	// goroutine so this caller returns now.
	go f.run(key, k, next, fn)
}
