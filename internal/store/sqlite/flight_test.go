package sqlite

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A caller that arrives while a query runs must get the result of a later
// query (one that started after it arrived), and callers that queue
// together share that one later query.
func TestFreshFlight(t *testing.T) {
	var f freshFlight
	var version atomic.Int64 // what the "database" holds
	var queries atomic.Int64
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	fn := func() (any, error) {
		queries.Add(1)
		v := version.Load()
		started <- struct{}{}
		<-release
		return v, nil
	}
	var wg sync.WaitGroup
	results := make([]int64, 6)
	wg.Add(1)
	go func() { // the first caller starts query 1, which reads version 0
		defer wg.Done()
		v, _, _ := f.Do("k", fn)
		results[0] = v.(int64)
	}()
	<-started
	version.Store(1) // a commit after query 1 read
	for i := 1; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, shared := f.Do("k", fn)
			results[i] = v.(int64)
			if !shared {
				t.Errorf("caller %d did not share the queued query", i)
			}
		}()
	}
	// Let the five queue up behind query 1.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := 0
		if k := f.state["k"]; k != nil && k.next != nil {
			n = k.next.callers
		}
		f.mu.Unlock()
		if n == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if results[0] != 0 {
		t.Fatalf("first caller got %d, want 0", results[0])
	}
	for i := 1; i < 6; i++ {
		if results[i] != 1 {
			t.Fatalf("caller %d got %d: a stale result from the query that was running when it arrived", i, results[i])
		}
	}
	if q := queries.Load(); q != 2 {
		t.Fatalf("%d queries for 6 callers, want 2", q)
	}
}
