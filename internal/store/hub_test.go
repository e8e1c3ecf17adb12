package store

import (
	"sync"
	"testing"
)

func TestHubFansOutPerAccount(t *testing.T) {
	h := NewHub()
	a1 := h.Subscribe(1)
	a1b := h.Subscribe(1)
	a2 := h.Subscribe(2)
	defer a1b.Close()
	defer a2.Close()
	h.Publish(Event{Account: 1, Kind: EventAppend, UID: 1}, Event{Account: 2, Kind: EventFlags, UID: 7}, Event{Account: 1, Kind: EventExpunge, UID: 1})
	select {
	case <-a1.C:
	default:
		t.Fatal("no signal")
	}
	evs, over := a1.Drain()
	if over || len(evs) != 2 || evs[0].Kind != EventAppend || evs[1].Kind != EventExpunge {
		t.Fatalf("account 1 got %+v %v", evs, over)
	}
	if evs, _ := a1b.Drain(); len(evs) != 2 {
		t.Fatalf("second subscriber got %d", len(evs))
	}
	if evs, _ := a2.Drain(); len(evs) != 1 || evs[0].UID != 7 {
		t.Fatalf("account 2 got %+v", evs)
	}
	a1.Close()
	a1.Close() // idempotent
	if n := h.Subscribers(1); n != 1 {
		t.Fatalf("subscribers %d", n)
	}
	h.Publish(Event{Account: 1, Kind: EventAppend})
	if evs, _ := a1.Drain(); len(evs) != 0 {
		t.Fatal("closed subscription got events")
	}
	if EventMailboxRename.String() != "mailbox-rename" || EventKind(99).String() != "unknown" {
		t.Fatal("kind names")
	}
}

func TestHubOverflow(t *testing.T) {
	h := NewHub()
	s := h.Subscribe(1)
	defer s.Close()
	for i := 0; i < maxQueued+10; i++ {
		h.Publish(Event{Account: 1, Kind: EventFlags, UID: UID(i)})
	}
	evs, over := s.Drain()
	if !over || len(evs) > maxQueued {
		t.Fatalf("overflow %v, %d events", over, len(evs))
	}
	if _, over := s.Drain(); over {
		t.Fatal("overflow not reset by Drain")
	}
}

func TestHubConcurrent(t *testing.T) {
	h := NewHub()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := h.Subscribe(AccountID(i % 3))
				s.Drain()
				s.Close()
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				h.Publish(Event{Account: AccountID(i % 3), Kind: EventAppend})
			}
		}()
	}
	wg.Wait()
	for a := AccountID(0); a < 3; a++ {
		if n := h.Subscribers(a); n != 0 {
			t.Fatalf("account %d keeps %d subscribers", a, n)
		}
	}
}

func TestHubAccountGeneration(t *testing.T) {
	h := NewHub()
	g0 := h.AccountGeneration()
	h.Publish(Event{Account: 1, Mailbox: 2, Kind: EventAppend, UID: 1, ModSeq: 5})
	if h.AccountGeneration() != g0 {
		t.Fatal("a message event changed the account generation")
	}
	sub := h.Subscribe(1)
	defer sub.Close()
	h.Publish(Event{Account: 1, Kind: EventAccount})
	g1 := h.AccountGeneration()
	if g1 == g0 {
		t.Fatal("an account event left the generation as it was")
	}
	if evs, _ := sub.Drain(); len(evs) != 1 || evs[0].Kind != EventAccount || evs[0].Kind.String() != "account" {
		t.Fatalf("subscriber got %v", evs)
	}
}

// TestHubWakeReplacesC: with a wake installed, queued events call it and
// leave C quiet; once it is removed, C is signalled again. Either way the
// events wait for Drain.
func TestHubWakeReplacesC(t *testing.T) {
	h := NewHub()
	s := h.Subscribe(1)
	defer s.Close()
	woken := 0
	s.SetWake(func() { woken++ })
	h.Publish(Event{Account: 1, Kind: EventAppend, UID: 1})
	h.Publish(Event{Account: 1, Kind: EventAppend, UID: 2})
	if woken != 2 {
		t.Fatalf("wake called %d times, want 2", woken)
	}
	select {
	case <-s.C:
		t.Fatal("C signalled while a wake is installed")
	default:
	}
	s.SetWake(nil)
	h.Publish(Event{Account: 1, Kind: EventAppend, UID: 3})
	select {
	case <-s.C:
	default:
		t.Fatal("C not signalled after the wake was removed")
	}
	if woken != 2 {
		t.Fatalf("removed wake called: %d", woken)
	}
	if evs, _ := s.Drain(); len(evs) != 3 {
		t.Fatalf("drained %d events, want 3", len(evs))
	}
}
