package imapserver

import (
	"sync"
	"time"

	"github.com/postern/postern/internal/store"
)

// changesCache keeps the store's recent answers to "what changed in this
// mailbox after mod-sequence N", so that the sessions that have a mailbox
// selected, all synchronized to the same N, share one answer when a
// delivery wakes them (thousands of IDLE sessions of one shared mailbox or
// one user's many devices).
//
// An answer is a snapshot: it holds every change up to its HighestModSeq.
// A session reuses it only when that covers the mod-sequence of every
// change it was told about (changesSince); later changes come with later
// events and a fresh question.
type changesCache struct {
	mu sync.Mutex
	m  map[changesKey]cachedChanges
}

type changesKey struct {
	account store.AccountID
	mailbox store.MailboxID
	since   uint64
}

type cachedChanges struct {
	ch store.Changes
	at time.Time
}

const (
	// maxCachedChanges bounds the answers kept; past it, those older than
	// cachedChangesAge go.
	maxCachedChanges = 512
	cachedChangesAge = 2 * time.Second
	// maxCachedChangeRefs keeps large answers (a session back from a long
	// absence) out of the cache.
	maxCachedChangeRefs = 256
)

// get returns a kept answer whose HighestModSeq reaches need. The answer
// is shared by every session that asks (as the store's own answers are
// among concurrent callers, see sqlite's freshFlight), so it is
// read-only: syncRead only reads its slices, and the flag lists it keeps
// in a view are replaced there, never appended to in place.
func (c *changesCache) get(k changesKey, need uint64) (store.Changes, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || e.ch.HighestModSeq < need {
		return store.Changes{}, false
	}
	return e.ch, true
}

// put keeps an answer unless a newer one for the same question is kept.
func (c *changesCache) put(k changesKey, ch store.Changes) {
	if ch.TombstonesPruned || len(ch.Changed)+len(ch.Vanished) > maxCachedChangeRefs {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[changesKey]cachedChanges)
	}
	if old, ok := c.m[k]; ok && old.ch.HighestModSeq > ch.HighestModSeq {
		return
	}
	if len(c.m) >= maxCachedChanges {
		for k, e := range c.m {
			if now.Sub(e.at) > cachedChangesAge {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCachedChanges {
			clear(c.m)
		}
	}
	c.m[k] = cachedChanges{ch: ch, at: now}
}

// changesSince asks what changed in the selected mailbox since the view's
// mod-sequence. A kept answer serves when it covers need, the highest
// mod-sequence of the changes the hub announced (0 when unknown: then the
// store is asked, and its answer is never older than the call).
func (s *session) changesSince(v *view, need uint64) (store.Changes, error) {
	k := changesKey{s.account.ID, v.mbox.ID, v.syncModSeq}
	if need > 0 {
		if ch, ok := s.srv.changes.get(k, need); ok {
			return ch, nil
		}
	}
	ch, err := s.srv.opts.Store.ChangesSince(s.ctx, k.account, k.mailbox, k.since)
	if err == nil {
		s.srv.changes.put(k, ch)
	}
	return ch, err
}
