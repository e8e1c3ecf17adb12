package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/postern/postern/internal/store"
)

// This file lets imports keep the UIDVALIDITY and UIDs a mailbox had on
// another server (transfer.UIDPreserver), so IMAP clients moved from
// Dovecot keep their caches. The invariants of DESIGN.md §3 still hold:
// UIDs only grow (a UID below UIDNEXT is refused), UIDVALIDITY is replaced
// only in a mailbox that never held a message, and every append takes a new
// MODSEQ and is published like any other.

// ErrUIDTooLow is the per-request error of AppendWithUIDs for a UID below
// the mailbox's UIDNEXT (or too large to leave room for UIDNEXT).
var ErrUIDTooLow = fmt.Errorf("%w: UID below UIDNEXT", store.ErrCannot)

// maxUID bounds a UID given to AppendWithUIDs: UIDNEXT (UID+1) must still
// be a 32-bit nz-number (RFC 9051 §9, uniqueid).
const maxUID = store.UID(0xffffffff)

// ImportMailbox returns mailbox name of account with UIDVALIDITY
// uidValidity, creating it and its missing parents when needed. An
// existing mailbox qualifies when it never held a message (UIDNEXT 1: its
// UIDVALIDITY is replaced) or already has uidValidity; otherwise the
// result is store.ErrMailboxExists. Called by transfer.Import; safe for
// concurrent use (it is one write job).
func (db *DB) ImportMailbox(ctx context.Context, account store.AccountID, name string, uidValidity uint32) (store.Mailbox, error) {
	if uidValidity == 0 { // RFC 9051 §2.3.1.1: a non-zero 32-bit value
		return store.Mailbox{}, store.ErrCannot
	}
	if len(name) > 1 && name[len(name)-1] == store.Separator {
		name = name[:len(name)-1]
	}
	name, err := normMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	var mb store.Mailbox
	err = db.write(ctx, func(w *wtx) error {
		if err := w.accountExists(account); err != nil {
			return err
		}
		cur, err := w.mailboxByName(account, name)
		switch {
		case err == nil && cur.UIDValidity == uidValidity:
			mb = cur
			return nil
		case err == nil && cur.UIDNext == 1:
			if _, err := w.exec("UPDATE mailboxes SET uidvalidity = ? WHERE account_id = ? AND id = ?", uidValidity, account, cur.ID); err != nil {
				return dbErr("import mailbox", err)
			}
			cur.UIDValidity = uidValidity
			mb = cur
		case err == nil:
			return store.ErrMailboxExists
		case !errors.Is(err, store.ErrNoMailbox):
			return err
		default:
			if err := db.ensureParents(w, account, name); err != nil {
				return err
			}
			if mb, err = db.insertMailboxUV(w, account, name, "", uidValidity); err != nil {
				return err
			}
		}
		// Values handed out later must not repeat this one: a mailbox
		// deleted and created again under the same name needs a new
		// UIDVALIDITY. Values near the 32-bit end are left alone so the
		// counter does not wrap early.
		if uidValidity < 0xf0000000 {
			_, err := w.exec(`INSERT INTO meta(key, value) VALUES ('uidvalidity', ?)
				ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)`, uidValidity)
			return dbErr("import mailbox", err)
		}
		return nil
	})
	return mb, err
}

// AppendWithUIDs is Append where reqs[i] gets UID uids[i]. Within one
// mailbox the UIDs must ascend and be at least its UIDNEXT, which becomes
// the highest UID + 1; a request whose UID is too low fails alone with
// ErrUIDTooLow. Like Append it is one write job: one durable group commit,
// changes published on the hub. Called by transfer.Import.
func (db *DB) AppendWithUIDs(ctx context.Context, reqs []store.AppendRequest, uids []store.UID) ([]store.AppendResult, error) {
	if len(uids) != len(reqs) {
		return nil, fmt.Errorf("store: AppendWithUIDs: %d requests, %d UIDs", len(reqs), len(uids))
	}
	for _, u := range uids {
		if u == 0 {
			return nil, fmt.Errorf("store: AppendWithUIDs: UID 0")
		}
	}
	return db.appendBatch(ctx, reqs, uids)
}

// RaiseUIDNext sets a mailbox's UIDNEXT to uidNext when that is higher; it
// never lowers it. Called by transfer.Import after the messages with known
// UIDs, so later messages never get a UID the old server handed out.
func (db *DB) RaiseUIDNext(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uidNext store.UID) error {
	return db.write(ctx, func(w *wtx) error {
		res, err := w.exec("UPDATE mailboxes SET uidnext = max(uidnext, ?) WHERE account_id = ? AND id = ?", uidNext, account, mailbox)
		if err != nil {
			return dbErr("raise uidnext", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNoMailbox
		}
		return nil
	})
}
