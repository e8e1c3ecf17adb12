package sqlite

import (
	"context"
	"iter"
	"strconv"

	"github.com/postern/postern/internal/store"
)

// UpdateFlags changes flags (STORE, RFC 9051 §6.4.6) in one write job. All
// messages changed by one call share one new MODSEQ (RFC 7162 §3.1 allows
// that). With unchangedSince > 0, messages whose MODSEQ is greater are
// left alone and returned in failed (RFC 7162 §3.1.3).
func (db *DB) UpdateFlags(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, op store.FlagOp, flags []string, unchangedSince uint64) (updated []store.FlagUpdate, failed []store.UID, err error) {
	flags = normFlags(flags)
	err = db.write(ctx, func(w *wtx) error {
		updated, failed = nil, nil
		mb, err := w.mailboxByID(account, mailbox)
		if err != nil {
			return err
		}
		states, err := w.loadStates(account, mailbox, uids)
		if err != nil {
			return err
		}
		modseq := mb.HighestModSeq + 1
		// Messages that follow each other in the mailbox and get the same
		// new flags are one UPDATE over a range of UIDs (STORE 1:* +FLAGS
		// on a big mailbox makes a few); the others are grouped by their
		// new flag string, one UPDATE over a list of UIDs per group.
		var runs []flagRun
		groups := make(map[string][]store.UID)
		var order []string
		flush := func(r flagRun) {
			if len(r.uids) >= minFlagRun {
				runs = append(runs, r)
				return
			}
			if _, ok := groups[r.key]; !ok {
				order = append(order, r.key)
			}
			groups[r.key] = append(groups[r.key], r.uids...)
		}
		var cur flagRun
		open := false
		for _, s := range states {
			if unchangedSince > 0 && s.modseq > unchangedSince {
				failed = append(failed, s.uid)
				if open {
					flush(cur)
					open = false
				}
				continue
			}
			nf := applyFlags(s.flags, op, flags)
			if sameFlags(nf, s.flags) {
				if open {
					flush(cur)
					open = false
				}
				continue
			}
			key := joinFlags(nf)
			if open && s.adj && key == cur.key {
				cur.uids = append(cur.uids, s.uid)
			} else {
				if open {
					flush(cur)
				}
				cur, open = flagRun{key: key, uids: []store.UID{s.uid}}, true
			}
			updated = append(updated, store.FlagUpdate{UID: s.uid, ModSeq: modseq, Flags: nf})
		}
		if open {
			flush(cur)
		}
		if len(updated) > flagEventsMax {
			// One event for the lot: subscribers ask the store what
			// changed anyway, and 10,000 events (and changelog rows) for
			// STORE 1:* on a big mailbox cost more than the change.
			w.publish(store.Event{Account: account, Mailbox: mailbox, Kind: store.EventFlags, ModSeq: modseq})
		} else {
			for _, up := range updated {
				w.publish(store.Event{Account: account, Mailbox: mailbox, Kind: store.EventFlags, UID: up.UID, ModSeq: modseq})
			}
		}
		set := func(key string) []any {
			nf := splitFlags(key)
			return []any{key, boolInt(hasFlag(nf, store.FlagSeen)), boolInt(hasFlag(nf, store.FlagDeleted)), modseq, account, mailbox}
		}
		for _, r := range runs {
			if _, err := w.exec(`UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ?
				WHERE account_id = ? AND mailbox_id = ? AND uid BETWEEN ? AND ?`,
				append(set(r.key), r.uids[0], r.uids[len(r.uids)-1])...); err != nil {
				return dbErr("store flags", err)
			}
		}
		for _, key := range order {
			for list := range uidLists(groups[key]) {
				if _, err := w.exec(`UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ?
					WHERE account_id = ? AND mailbox_id = ? AND uid IN (SELECT value FROM json_each(?))`,
					append(set(key), list)...); err != nil {
					return dbErr("store flags", err)
				}
			}
		}
		if len(updated) > 0 {
			if _, err := w.exec("UPDATE mailboxes SET highestmodseq = ? WHERE account_id = ? AND id = ?", modseq, account, mailbox); err != nil {
				return dbErr("store flags", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return updated, failed, nil
}

// flagRun is messages next to each other in their mailbox (uids, in
// order) that get the flags key.
type flagRun struct {
	key  string
	uids []store.UID
}

// minFlagRun is the shortest run of neighbours updated by UID range: a
// statement per run costs more than listing a few UIDs in their group's
// statement (with runs of two or three, as after random flag changes, the
// bench's mixed workload lost about a fifth of its rate).
const minFlagRun = 32

// flagEventsMax is how many messages of one flag change get an event
// each; a bigger change is one EventFlags with UID 0.
const flagEventsMax = 64

// Expunge removes messages, leaving a tombstone (uid, modseq) for each so
// that QRESYNC can report them VANISHED (RFC 7162 §3.2.10). One new MODSEQ
// covers the whole call.
func (db *DB) Expunge(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID) ([]store.UID, error) {
	var removed []store.UID
	err := db.write(ctx, func(w *wtx) error {
		removed = nil
		mb, err := w.mailboxByID(account, mailbox)
		if err != nil {
			return err
		}
		states, err := w.loadStates(account, mailbox, uids)
		if err != nil {
			return err
		}
		removed, err = w.expungeStates(mb, states, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// expungeStates deletes the given messages of mb with tombstones and
// publishes the expunges. With usage, the account's usage shrinks (a move
// within the account leaves it unchanged).
func (w *wtx) expungeStates(mb store.Mailbox, states []msgState, usage bool) ([]store.UID, error) {
	if len(states) == 0 {
		return nil, nil
	}
	modseq := mb.HighestModSeq + 1
	removed := make([]store.UID, 0, len(states))
	var bytes int64
	blobs := make(map[string]struct{}, len(states))
	for _, s := range states {
		var blobID string
		if err := w.queryRow("DELETE FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid = ? RETURNING blob_id", mb.Account, mb.ID, s.uid).Scan(&blobID); err != nil {
			return nil, dbErr("expunge", err)
		}
		blobs[blobID] = struct{}{}
		if _, err := w.exec("INSERT OR REPLACE INTO tombstones(account_id, mailbox_id, uid, modseq, expunged_at) VALUES (?, ?, ?, ?, ?)",
			mb.Account, mb.ID, s.uid, modseq, w.now.UnixNano()); err != nil {
			return nil, dbErr("expunge", err)
		}
		removed = append(removed, s.uid)
		bytes += s.size
		w.publish(store.Event{Account: mb.Account, Mailbox: mb.ID, Kind: store.EventExpunge, UID: s.uid, ModSeq: modseq})
	}
	if _, err := w.exec("UPDATE mailboxes SET highestmodseq = ? WHERE account_id = ? AND id = ?", modseq, mb.Account, mb.ID); err != nil {
		return nil, dbErr("expunge", err)
	}
	for id := range blobs {
		if err := w.dropUnreferenced(id); err != nil {
			return nil, err
		}
	}
	if usage {
		if err := w.addUsage(mb.Account, -int64(len(states)), -bytes); err != nil {
			return nil, err
		}
	}
	return removed, nil
}

// Copy copies messages to dst without copying their bytes (the rows point
// at the same blob). The whole copy fails with ErrOverQuota if it does not
// fit (RFC 9051 §6.4.7: COPY is all or nothing).
func (db *DB) Copy(ctx context.Context, account store.AccountID, src store.MailboxID, uids []store.UID, dst store.MailboxID) (srcUIDs, dstUIDs []store.UID, dstUIDValidity uint32, err error) {
	return db.copyOrMove(ctx, account, src, uids, dst, false)
}

// Move copies messages to dst and expunges them from src in one atomic
// write (RFC 6851).
func (db *DB) Move(ctx context.Context, account store.AccountID, src store.MailboxID, uids []store.UID, dst store.MailboxID) (srcUIDs, dstUIDs []store.UID, dstUIDValidity uint32, err error) {
	return db.copyOrMove(ctx, account, src, uids, dst, true)
}

func (db *DB) copyOrMove(ctx context.Context, account store.AccountID, src store.MailboxID, uids []store.UID, dst store.MailboxID, move bool) (srcUIDs, dstUIDs []store.UID, dstUIDValidity uint32, err error) {
	err = db.write(ctx, func(w *wtx) error {
		srcMb, err := w.mailboxByID(account, src)
		if err != nil {
			return err
		}
		dstMb, err := w.mailboxByID(account, dst)
		if err != nil {
			return err
		}
		dstUIDValidity = dstMb.UIDValidity
		srcUIDs, dstUIDs, err = db.copyMessages(w, account, srcMb, uids, dstMb, move)
		return err
	})
	if err != nil {
		return nil, nil, 0, err
	}
	return srcUIDs, dstUIDs, dstUIDValidity, nil
}

// copyMessages is COPY and MOVE inside a write job. Copies keep flags,
// INTERNALDATE, EMAILID and THREADID (RFC 8474 §5.1: a copy is the same
// email), get a new SAVEDATE, and share one new MODSEQ in dst.
func (db *DB) copyMessages(w *wtx, account store.AccountID, src store.Mailbox, uids []store.UID, dst store.Mailbox, move bool) (srcUIDs, dstUIDs []store.UID, err error) {
	states, err := w.loadStates(account, src.ID, uids)
	if err != nil || len(states) == 0 {
		return nil, nil, err
	}
	if !move {
		var bytes int64
		for _, s := range states {
			bytes += s.size
		}
		if err := w.checkQuota(account, int64(len(states)), bytes); err != nil {
			return nil, nil, err
		}
		if err := w.addUsage(account, int64(len(states)), bytes); err != nil {
			return nil, nil, err
		}
	}
	uidNext, modseq := dst.UIDNext, dst.HighestModSeq+1
	for _, s := range states {
		var dstRow int64
		err := w.queryRow(`INSERT INTO messages(account_id, mailbox_id, uid, modseq, flags, seen, deleted,
				internaldate, internaldate_tz, savedate, size, blob_id, emailid, threadid,
				hdr_subject, hdr_from, hdr_date, hdr_messageid, line_end_pad)
			SELECT account_id, ?, ?, ?, flags, seen, deleted,
				internaldate, internaldate_tz, ?, size, blob_id, emailid, threadid,
				hdr_subject, hdr_from, hdr_date, hdr_messageid, line_end_pad
			FROM messages WHERE id = ?
			RETURNING id`,
			dst.ID, uidNext, modseq, w.now.UnixNano(), s.row).Scan(&dstRow)
		if err != nil {
			return nil, nil, dbErr("copy", err)
		}
		if _, err := w.exec(`INSERT INTO message_meta(id, account_id, envelope, body, bodystructure, structure, headers, preview,
				hdr_to, hdr_cc, hdr_bcc)
			SELECT ?, account_id, envelope, body, bodystructure, structure, headers, preview,
				hdr_to, hdr_cc, hdr_bcc
			FROM message_meta WHERE id = ?`, dstRow, s.row); err != nil {
			return nil, nil, dbErr("copy", err)
		}
		srcUIDs = append(srcUIDs, s.uid)
		dstUIDs = append(dstUIDs, uidNext)
		w.publish(store.Event{Account: account, Mailbox: dst.ID, Kind: store.EventAppend, UID: uidNext, ModSeq: modseq})
		uidNext++
	}
	if _, err := w.exec("UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE account_id = ? AND id = ?", uidNext, modseq, account, dst.ID); err != nil {
		return nil, nil, dbErr("copy", err)
	}
	if move {
		if src.ID == dst.ID {
			src.HighestModSeq = modseq
		}
		if _, err := w.expungeStates(src, states, false); err != nil {
			return nil, nil, err
		}
	}
	return srcUIDs, dstUIDs, nil
}

// uidLists yields uids as JSON arrays ("[1,2,3]") of at most uidListMax
// UIDs each, for statements that take a UID list through json_each.
func uidLists(uids []store.UID) iter.Seq[string] {
	return func(yield func(string) bool) {
		for len(uids) > 0 {
			n := min(len(uids), uidListMax)
			b := make([]byte, 0, 8*n+2)
			b = append(b, '[')
			for i, u := range uids[:n] {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(u), 10)
			}
			b = append(b, ']')
			if !yield(string(b)) {
				return
			}
			uids = uids[n:]
		}
	}
}

// uidListMax bounds one UID list statement.
const uidListMax = 10_000
