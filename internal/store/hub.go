package store

import (
	"sync"
	"sync/atomic"
)

// EventKind says what changed.
type EventKind uint8

const (
	EventAppend        EventKind = iota + 1 // a new message (UID, ModSeq)
	EventFlags                              // flags of UID changed (ModSeq); UID 0: of many messages, all at ModSeq
	EventExpunge                            // UID was expunged (ModSeq of the tombstone)
	EventMailboxCreate                      // Name was created
	EventMailboxDelete                      // Name was deleted
	EventMailboxRename                      // OldName became Name
	EventSubscribe                          // subscription of Name changed
	EventAccount                            // the account was created or deleted, or its quota, credentials or settings changed
)

var eventKindNames = [...]string{"", "append", "flags", "expunge", "mailbox-create", "mailbox-delete", "mailbox-rename", "subscribe", "account"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k > 0 {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one change published on the hub.
type Event struct {
	Account AccountID
	Mailbox MailboxID
	Kind    EventKind
	UID     UID
	ModSeq  uint64
	Name    string // mailbox events: the mailbox name (new name for rename)
	OldName string // rename: the old name
}

// maxQueued bounds the events a subscription holds between drains. A
// subscriber that falls further behind is told to resynchronize
// (Overflowed) instead of growing memory without bound.
const maxQueued = 4096

// Hub fans change events out to the sessions of an account. It is safe for
// concurrent use. Publishing never blocks on a slow subscriber.
type Hub struct {
	mu   sync.Mutex
	subs map[AccountID]map[*Subscription]struct{}
	// accounts counts EventAccount publications (AccountGeneration).
	accounts atomic.Uint64
}

// AccountGeneration changes whenever an EventAccount is published, before
// it reaches any subscriber: what was read about any account while it
// held one value may be kept for as long as it holds it (the delivery
// server's recipient lookups).
func (h *Hub) AccountGeneration() uint64 { return h.accounts.Load() }

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[AccountID]map[*Subscription]struct{})}
}

// Subscription receives the events of one account. C gets a value whenever
// events are waiting; Drain takes them.
type Subscription struct {
	// What push and Drain use comes first, together (a delivery to
	// 10,000 idling sessions touches each subscription once, cold).
	mu sync.Mutex
	// wake, when set, is called after events are queued (SetWake).
	wake       func()
	events     []Event
	overflowed bool
	// drained is the array Drain returned last; the next Drain queues
	// into it again, so a delivery does not allocate a queue per
	// subscriber.
	drained []Event

	hub     *Hub
	account AccountID
	// C is signalled (non-blocking, capacity 1) when events are queued.
	C <-chan struct{}
	c chan struct{}
}

// SetWake installs f to be called instead of signalling C each time
// events are queued; nil removes it (and C is signalled again). f runs on the publisher's goroutine
// with the subscription locked, so it must be quick and must not call
// back into the subscription; once SetWake(nil) returns, f is not running
// and will not run again. An IMAP session in IDLE uses it to interrupt its
// blocked read instead of keeping a second goroutine waiting on C.
func (s *Subscription) SetWake(f func()) {
	s.mu.Lock()
	s.wake = f
	s.mu.Unlock()
}

// Subscribe starts receiving events for an account. Call Close when done.
func (h *Hub) Subscribe(account AccountID) *Subscription {
	c := make(chan struct{}, 1)
	s := &Subscription{hub: h, account: account, C: c, c: c}
	h.mu.Lock()
	m := h.subs[account]
	if m == nil {
		m = make(map[*Subscription]struct{})
		h.subs[account] = m
	}
	m[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Close stops the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	if m := h.subs[s.account]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.account)
		}
	}
	h.mu.Unlock()
}

// maxKeptDrained bounds the queue array a subscription keeps for reuse
// (an idle session holds it for hours).
const maxKeptDrained = 8

// Drain returns the queued events and empties the queue. overflowed is true
// when events were dropped since the last drain; the caller must then
// resynchronize from the store (ChangesSince, Mailboxes).
//
// The events are the caller's until its next call of Drain.
func (s *Subscription) Drain() (events []Event, overflowed bool) {
	s.mu.Lock()
	events, overflowed = s.events, s.overflowed
	clear(s.drained)
	s.events, s.overflowed = s.drained[:0], false
	s.drained = nil
	if cap(events) <= maxKeptDrained {
		s.drained = events
	}
	s.mu.Unlock()
	return events, overflowed
}

func (s *Subscription) push(evs []Event) {
	s.mu.Lock()
	if len(s.events)+len(evs) > maxQueued {
		s.overflowed = true
	} else {
		s.events = append(s.events, evs...)
	}
	if wake := s.wake; wake != nil {
		// The subscriber waits for the wake, not on C (one channel
		// operation less per session when a delivery wakes thousands).
		wake()
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// Publish delivers events to every subscriber of their accounts.
func (h *Hub) Publish(events ...Event) {
	if len(events) == 0 {
		return
	}
	for _, ev := range events {
		if ev.Kind == EventAccount {
			h.accounts.Add(1)
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	start := 0
	for i := 1; i <= len(events); i++ {
		if i < len(events) && events[i].Account == events[start].Account {
			continue
		}
		for s := range h.subs[events[start].Account] {
			s.push(events[start:i:i])
		}
		start = i
	}
}

// Subscribers reports how many subscriptions an account has (tests, metrics).
func (h *Hub) Subscribers(account AccountID) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[account])
}
