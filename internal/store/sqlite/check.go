package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/postern/postern/internal/blob"
	"github.com/postern/postern/internal/store"
)

// Check verifies the store (postern check):
//   - per mailbox: UIDs below UIDNEXT, MODSEQs and tombstones at most
//     HIGHESTMODSEQ, no UID both live and expunged, FirstRecentUID ≤ UIDNEXT;
//   - per account: the usage counters equal the sums of its messages;
//   - every referenced body (inline in the bodies table, else a blob file)
//     exists, hashes to its id and has the size the rows say;
//   - inline bodies no row references, and blob files no row references
//     once older than OrphanGrace (orphans);
//   - every message has its row of parsed metadata.
//
// With repair it moves UIDNEXT/HIGHESTMODSEQ up, recomputes usage, removes
// old orphans (and their text index rows) and stale temporary files. Missing
// or corrupt bodies are only reported: nothing can bring them back.
// Safe to run while the store is in use.
func (db *DB) Check(ctx context.Context, repair bool) (store.CheckReport, error) {
	var rep store.CheckReport
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	fixed := func(format string, args ...any) { rep.Repaired = append(rep.Repaired, fmt.Sprintf(format, args...)) }

	// Snapshot the referenced blobs before listing the blob directory, so
	// that a blob appended meanwhile is at worst seen as a young orphan.
	refs := map[string]int64{} // blob id → size per rows
	rows, err := db.rdb.QueryContext(ctx, "SELECT blob_id, size FROM messages")
	if err != nil {
		return rep, dbErr("check", err)
	}
	for rows.Next() {
		var id string
		var size int64
		if err := rows.Scan(&id, &size); err != nil {
			rows.Close()
			return rep, dbErr("check", err)
		}
		rep.Messages++
		if old, ok := refs[id]; ok && old != size {
			problem("blob %s is referenced with sizes %d and %d", id, old, size)
		}
		refs[id] = size
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, dbErr("check", err)
	}
	if err := db.rdb.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM mailboxes)").Scan(&rep.Accounts, &rep.Mailboxes); err != nil {
		return rep, dbErr("check", err)
	}

	// Each message row has its metadata row (schema step 8); orphaned
	// metadata rows cannot exist (ON DELETE CASCADE).
	var bare int
	if err := db.rdb.QueryRowContext(ctx, `SELECT count(*) FROM messages m
		WHERE NOT EXISTS (SELECT 1 FROM message_meta mm WHERE mm.id = m.id)`).Scan(&bare); err != nil {
		return rep, dbErr("check", err)
	}
	if bare > 0 {
		problem("%d messages have no parsed metadata (their ENVELOPE and BODYSTRUCTURE read as empty)", bare)
	}

	if err := db.checkMailboxes(ctx, repair, problem, fixed); err != nil {
		return rep, err
	}
	if err := db.checkUsage(ctx, repair, problem, fixed); err != nil {
		return rep, err
	}

	inline, err := db.checkBodies(ctx, refs, repair, problem, fixed)
	if err != nil {
		return rep, err
	}
	rep.Blobs += len(inline)
	if err := db.checkText(ctx, repair, problem, fixed); err != nil {
		return rep, err
	}

	// Referenced blob files: present, right hash, right size.
	for id, size := range refs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if _, ok := inline[id]; ok {
			continue
		}
		n, err := db.blobs.Verify(ctx, id)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problem("blob %s is missing", id)
		case errors.Is(err, blob.ErrCorrupt):
			problem("blob %s is corrupt (content does not match its hash)", id)
		case errors.Is(err, blob.ErrInvalidID):
			problem("a message references an invalid blob id %q", id)
		case err != nil:
			return rep, fmt.Errorf("check blob %s: %w", id, err)
		case n != size:
			problem("blob %s has %d octets, its messages say %d", id, n, size)
		}
	}

	// Orphans.
	cutoff := db.now().Add(-db.opts.OrphanGrace)
	var orphans []string
	err = db.blobs.List(func(info blob.Info) error {
		rep.Blobs++
		if _, ok := refs[info.ID]; ok || !info.ModTime.Before(cutoff) {
			return nil
		}
		orphans = append(orphans, info.ID)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("check: list blobs: %w", err)
	}
	for _, id := range orphans {
		problem("blob %s is not referenced by any message", id)
		if !repair {
			continue
		}
		// Re-check under the writer: an Append may have referenced it since
		// the snapshot.
		removed := false
		err := db.write(ctx, func(w *wtx) error {
			var n int
			if err := w.queryRow("SELECT count(*) FROM messages WHERE blob_id = ?", id).Scan(&n); err != nil || n > 0 {
				return dbErr("check", err)
			}
			// Staging the same bytes again refreshes the mtime (blob.Put):
			// such a blob is about to be referenced.
			if fi, err := os.Stat(db.blobs.Path(id)); err != nil || !fi.ModTime().Before(cutoff) {
				return nil
			}
			if err := w.dropBlobText(id); err != nil {
				return err
			}
			if err := db.blobs.Remove(id); err != nil {
				return err
			}
			removed = true
			return nil
		})
		if err != nil {
			return rep, err
		}
		if removed {
			fixed("removed unreferenced blob %s", id)
		}
	}
	if repair {
		if n, err := db.blobs.CleanTemp(db.opts.OrphanGrace); err == nil && n > 0 {
			fixed("removed %d stale temporary files", n)
		}
	}
	return rep, nil
}

// checkBodies verifies the inline bodies (hash and size against the rows'
// refs) and returns the set of their ids. An unreferenced one is an orphan
// (none should exist: expunges delete them); repair deletes it. A body
// whose message was appended after refs was read is recognized by asking
// again.
func (db *DB) checkBodies(ctx context.Context, refs map[string]int64, repair bool, problem, fixed reportFunc) (map[string]struct{}, error) {
	seen := map[string]struct{}{}
	var orphans []string
	rows, err := db.rdb.QueryContext(ctx, "SELECT id, data FROM bodies")
	if err != nil {
		return nil, dbErr("check", err)
	}
	for rows.Next() {
		var id string
		var data sql.RawBytes
		if err := rows.Scan(&id, &data); err != nil {
			rows.Close()
			return nil, dbErr("check", err)
		}
		seen[id] = struct{}{}
		sum := sha256.Sum256(data)
		size, referenced := refs[id]
		switch {
		case !referenced:
			orphans = append(orphans, id)
		case hex.EncodeToString(sum[:]) != id:
			problem("inline body %s is corrupt (content does not match its hash)", id)
		case size != int64(len(data)):
			problem("inline body %s has %d octets, its messages say %d", id, len(data), size)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("check", err)
	}
	for _, id := range orphans {
		var n int
		if err := db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM messages WHERE blob_id = ?", id).Scan(&n); err != nil {
			return nil, dbErr("check", err)
		}
		if n > 0 {
			continue // appended since refs was read
		}
		problem("inline body %s is not referenced by any message", id)
		if !repair {
			continue
		}
		if err := db.write(ctx, func(w *wtx) error {
			return w.dropUnreferenced(id)
		}); err != nil {
			return nil, err
		}
		fixed("removed unreferenced inline body %s", id)
	}
	return seen, nil
}

// checkText finds full-text index rows of blobs no message references
// that are not queued for removal either (text_gone, see dropGoneText).
func (db *DB) checkText(ctx context.Context, repair bool, problem, fixed reportFunc) error {
	rows, err := db.rdb.QueryContext(ctx, `SELECT blob_id FROM blob_text b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.blob_id)
		AND NOT EXISTS (SELECT 1 FROM text_gone g WHERE g.id = b.id)`)
	if err != nil {
		return dbErr("check", err)
	}
	var stale []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return dbErr("check", err)
		}
		stale = append(stale, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbErr("check", err)
	}
	if len(stale) == 0 {
		return nil
	}
	problem("the text index holds the text of %d blobs that no message references, not queued for removal", len(stale))
	if !repair {
		return nil
	}
	removed := 0
	for _, id := range stale {
		dropped := false
		err := db.write(ctx, func(w *wtx) error {
			// An Append may have referenced the blob since the query.
			var used bool
			if err := w.queryRow("SELECT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?)", id).Scan(&used); err != nil || used {
				return dbErr("check", err)
			}
			dropped = true
			return w.dropBlobText(id)
		})
		if err != nil {
			return err
		}
		if dropped {
			removed++
		}
	}
	fixed("removed the text of %d unreferenced blobs from the text index", removed)
	return nil
}

// dropBlobText removes a blob's full-text index rows, if any.
func (w *wtx) dropBlobText(id string) error {
	var rowid int64
	err := w.queryRow("SELECT id FROM blob_text WHERE blob_id = ?", id).Scan(&rowid)
	if err != nil {
		return nil // not indexed
	}
	if _, err := w.exec("DELETE FROM text_fts WHERE rowid = ?", rowid); err != nil {
		return dbErr("unindex", err)
	}
	if _, err := w.exec("DELETE FROM blob_text WHERE id = ?", rowid); err != nil {
		return dbErr("unindex", err)
	}
	_, err = w.exec("DELETE FROM text_gone WHERE id = ?", rowid)
	return dbErr("unindex", err)
}

type reportFunc func(format string, args ...any)

func (db *DB) checkMailboxes(ctx context.Context, repair bool, problem, fixed reportFunc) error {
	type mbCheck struct {
		id                      store.MailboxID
		account                 store.AccountID
		name                    string
		uidNext, firstRecent    int64
		hms                     int64
		maxUID, maxMod, maxTomb int64
		maxTombMod, both        int64
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT m.id, m.account_id, m.name, m.uidnext, m.first_recent_uid, m.highestmodseq,
			(SELECT coalesce(max(uid), 0) FROM messages WHERE account_id = m.account_id AND mailbox_id = m.id),
			(SELECT coalesce(max(modseq), 0) FROM messages WHERE account_id = m.account_id AND mailbox_id = m.id),
			(SELECT coalesce(max(uid), 0) FROM tombstones WHERE account_id = m.account_id AND mailbox_id = m.id),
			(SELECT coalesce(max(modseq), 0) FROM tombstones WHERE account_id = m.account_id AND mailbox_id = m.id),
			(SELECT count(*) FROM tombstones t JOIN messages g ON g.account_id = t.account_id AND g.mailbox_id = t.mailbox_id AND g.uid = t.uid
				WHERE t.account_id = m.account_id AND t.mailbox_id = m.id)
		FROM mailboxes m ORDER BY m.account_id, m.name`)
	if err != nil {
		return dbErr("check", err)
	}
	var list []mbCheck
	for rows.Next() {
		var c mbCheck
		if err := rows.Scan(&c.id, &c.account, &c.name, &c.uidNext, &c.firstRecent, &c.hms, &c.maxUID, &c.maxMod, &c.maxTomb, &c.maxTombMod, &c.both); err != nil {
			rows.Close()
			return dbErr("check", err)
		}
		list = append(list, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbErr("check", err)
	}
	for _, c := range list {
		needUID := max(c.maxUID, c.maxTomb) + 1
		needMod := max(c.maxMod, c.maxTombMod)
		bad := false
		if c.uidNext < needUID {
			problem("mailbox %q (account %d): UIDNEXT %d but UID %d exists", c.name, c.account, c.uidNext, needUID-1)
			bad = true
		}
		if c.hms < needMod {
			problem("mailbox %q (account %d): HIGHESTMODSEQ %d but MODSEQ %d exists", c.name, c.account, c.hms, needMod)
			bad = true
		}
		if c.firstRecent > c.uidNext {
			problem("mailbox %q (account %d): first recent UID %d above UIDNEXT %d", c.name, c.account, c.firstRecent, c.uidNext)
			bad = true
		}
		if c.both > 0 {
			problem("mailbox %q (account %d): %d UIDs are both present and expunged", c.name, c.account, c.both)
			if repair {
				id, acct := c.id, c.account
				err := db.write(ctx, func(w *wtx) error {
					_, err := w.exec(`DELETE FROM tombstones WHERE account_id = ? AND mailbox_id = ? AND uid IN
						(SELECT uid FROM messages WHERE account_id = ? AND mailbox_id = ?)`, acct, id, acct, id)
					return dbErr("check", err)
				})
				if err != nil {
					return err
				}
				fixed("mailbox %q: removed tombstones of live messages", c.name)
			}
		}
		if bad && repair {
			id, acct := c.id, c.account
			err := db.write(ctx, func(w *wtx) error {
				_, err := w.exec(`UPDATE mailboxes SET uidnext = max(uidnext, ?), highestmodseq = max(highestmodseq, ?),
					first_recent_uid = min(first_recent_uid, max(uidnext, ?)) WHERE account_id = ? AND id = ?`,
					needUID, needMod, needUID, acct, id)
				return dbErr("check", err)
			})
			if err != nil {
				return err
			}
			fixed("mailbox %q: raised UIDNEXT/HIGHESTMODSEQ to %d/%d", c.name, needUID, needMod)
		}
	}
	return nil
}

func (db *DB) checkUsage(ctx context.Context, repair bool, problem, fixed reportFunc) error {
	rows, err := db.rdb.QueryContext(ctx, `SELECT a.id, a.name, a.used_bytes, a.used_messages,
			(SELECT coalesce(sum(size), 0) FROM messages WHERE account_id = a.id),
			(SELECT count(*) FROM messages WHERE account_id = a.id)
		FROM accounts a ORDER BY a.name`)
	if err != nil {
		return dbErr("check", err)
	}
	type usage struct {
		id                       store.AccountID
		name                     string
		ub, um, realB, realCount int64
	}
	var bad []usage
	for rows.Next() {
		var u usage
		if err := rows.Scan(&u.id, &u.name, &u.ub, &u.um, &u.realB, &u.realCount); err != nil {
			rows.Close()
			return dbErr("check", err)
		}
		if u.ub != u.realB || u.um != u.realCount {
			bad = append(bad, u)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbErr("check", err)
	}
	for _, u := range bad {
		problem("account %q: usage says %d octets in %d messages, messages add up to %d in %d", u.name, u.ub, u.um, u.realB, u.realCount)
		if !repair {
			continue
		}
		id := u.id
		err := db.write(ctx, func(w *wtx) error {
			_, err := w.exec(`UPDATE accounts SET
				used_bytes = (SELECT coalesce(sum(size), 0) FROM messages WHERE account_id = ?1),
				used_messages = (SELECT count(*) FROM messages WHERE account_id = ?1) WHERE id = ?1`, id)
			return dbErr("check", err)
		})
		if err != nil {
			return err
		}
		fixed("account %q: usage recomputed", u.name)
	}
	return nil
}
