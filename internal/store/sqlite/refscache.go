package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/postern/postern/internal/store"
)

// refsCache keeps the MessageRefs of big mailboxes, keyed by mailbox and
// HIGHESTMODSEQ. Every change to a mailbox's messages (append, copy in,
// flag change, expunge, move out) raises its HIGHESTMODSEQ in the same
// transaction, and mailbox ids are never reused (AUTOINCREMENT), so an
// entry whose HIGHESTMODSEQ equals the one read in the same read
// transaction as the refs query would have been describes exactly what the
// query would return — also when another process (the CLI) wrote the
// change. A reselect of an unchanged big mailbox (QRESYNC) then costs a
// copy instead of a scan. Safe for concurrent use.
//
// When the mailbox did change, an entry is brought up to date from the
// rows with a greater MODSEQ and the tombstones of expunges since (the
// data RFC 7162 QRESYNC uses), as long as those are few and no tombstone
// newer than the entry was pruned; see MessageRefs.
type refsCache struct {
	mu      sync.Mutex
	entries map[mailboxKey]refsEntry
	total   int // refs held, at most refsCacheMax
	// hits and deltas count answers from the cache as is and brought up
	// to date (tests).
	hits, deltas atomic.Int64
}

type refsEntry struct {
	modseq uint64
	refs   []store.MessageRef
}

// refsCacheMin is the smallest mailbox worth caching; refsCacheMax bounds
// the refs held in all (32 bytes each plus shared flag lists).
const (
	refsCacheMin = 2000
	refsCacheMax = 1 << 19
)

// entry returns key's entry. Entries are never changed in place (put
// replaces them), so the caller may read e.refs without the lock but must
// not change it.
func (c *refsCache) entry(key mailboxKey) (e refsEntry, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok = c.entries[key]
	return e, ok
}

// put stores refs (which the caller no longer changes) of key at modseq,
// evicting other entries as needed.
func (c *refsCache) put(key mailboxKey, modseq uint64, refs []store.MessageRef) {
	if len(refs) < refsCacheMin || len(refs) > refsCacheMax {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[mailboxKey]refsEntry)
	}
	if old, ok := c.entries[key]; ok {
		c.total -= len(old.refs)
		delete(c.entries, key)
	}
	for k, e := range c.entries {
		if c.total+len(refs) <= refsCacheMax {
			break
		}
		c.total -= len(e.refs)
		delete(c.entries, k)
	}
	c.entries[key] = refsEntry{modseq: modseq, refs: refs}
	c.total += len(refs)
}

// refsDelta brings the cached refs old (at MODSEQ old.modseq) up to date
// inside tx: rows changed or added since, minus UIDs expunged since. ok is
// false when that would not be cheaper than a full scan (more than
// about an eighth of the mailbox changed) or not possible (tombstones
// newer than the entry were pruned).
func refsDelta(ctx context.Context, tx *sql.Tx, key mailboxKey, old refsEntry, prunedModSeq uint64) (out []store.MessageRef, ok bool, err error) {
	if prunedModSeq > old.modseq {
		return nil, false, nil
	}
	limit := len(old.refs)/8 + 16
	rows, err := tx.QueryContext(ctx, `SELECT uid, modseq, flags FROM messages
		WHERE account_id = ? AND mailbox_id = ? AND modseq > ? LIMIT ?`, key.account, key.mailbox, old.modseq, limit+1)
	if err != nil {
		return nil, false, err
	}
	var (
		changed     []store.MessageRef
		uid, modseq int64
		flags       sql.RawBytes
		intern      flagInterner
	)
	for rows.Next() {
		if err := rows.Scan(&uid, &modseq, &flags); err != nil {
			rows.Close()
			return nil, false, err
		}
		changed = append(changed, store.MessageRef{UID: store.UID(uid), ModSeq: uint64(modseq), Flags: intern.flags(flags)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(changed) > limit {
		return nil, false, nil
	}
	slices.SortFunc(changed, func(a, b store.MessageRef) int { return cmpUID(a.UID, b.UID) })
	rows, err = tx.QueryContext(ctx, `SELECT uid FROM tombstones
		WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid LIMIT ?`, key.account, key.mailbox, old.modseq, limit+1)
	if err != nil {
		return nil, false, err
	}
	var vanished []store.UID
	for rows.Next() {
		if err := rows.Scan(&uid); err != nil {
			rows.Close()
			return nil, false, err
		}
		vanished = append(vanished, store.UID(uid))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(vanished) > limit {
		return nil, false, nil
	}
	return mergeRefs(old.refs, changed, vanished), true, nil
}

func cmpUID(a, b store.UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mergeRefs applies changed refs (new or replacing a ref of the same UID)
// and vanished UIDs to old; all three are sorted by UID.
func mergeRefs(old, changed []store.MessageRef, vanished []store.UID) []store.MessageRef {
	out := make([]store.MessageRef, 0, len(old)+len(changed))
	k := 0
	gone := func(u store.UID) bool {
		for k < len(vanished) && vanished[k] < u {
			k++
		}
		return k < len(vanished) && vanished[k] == u
	}
	i, j := 0, 0
	for i < len(old) || j < len(changed) {
		switch {
		case j == len(changed) || (i < len(old) && old[i].UID < changed[j].UID):
			if !gone(old[i].UID) {
				out = append(out, old[i])
			}
			i++
		case i == len(old) || changed[j].UID < old[i].UID:
			if !gone(changed[j].UID) {
				out = append(out, changed[j])
			}
			j++
		default: // same UID: the changed ref replaces the old one
			if !gone(changed[j].UID) {
				out = append(out, changed[j])
			}
			i++
			j++
		}
	}
	return out
}
