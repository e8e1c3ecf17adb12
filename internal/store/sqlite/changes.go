package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/postern/postern/internal/store"
)

// ChangesSince reads, in one read transaction, the messages and tombstones
// with a MODSEQ above since (RFC 7162 CHANGEDSINCE and QRESYNC).
func (db *DB) ChangesSince(ctx context.Context, account store.AccountID, mailbox store.MailboxID, since uint64) (store.Changes, error) {
	var ch store.Changes
	tx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ch, dbErr("changes", err)
	}
	defer tx.Rollback()
	var pruned uint64
	err = tx.QueryRowContext(ctx, "SELECT highestmodseq, tomb_pruned_modseq FROM mailboxes WHERE account_id = ? AND id = ?", account, mailbox).Scan(&ch.HighestModSeq, &pruned)
	if errors.Is(err, sql.ErrNoRows) {
		return ch, store.ErrNoMailbox
	}
	if err != nil {
		return ch, dbErr("changes", err)
	}
	ch.TombstonesPruned = pruned > since
	rows, err := tx.QueryContext(ctx, "SELECT uid, modseq, flags FROM messages WHERE account_id = ? AND mailbox_id = ? AND modseq > ?", account, mailbox, since)
	if err != nil {
		return ch, dbErr("changes", err)
	}
	var flags string
	for rows.Next() {
		var r store.MessageRef
		if err := rows.Scan(&r.UID, &r.ModSeq, &flags); err != nil {
			rows.Close()
			return ch, dbErr("changes", err)
		}
		r.Flags = splitFlags(flags)
		ch.Changed = append(ch.Changed, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ch, dbErr("changes", err)
	}
	slices.SortFunc(ch.Changed, func(a, b store.MessageRef) int { return int(int64(a.UID) - int64(b.UID)) })
	rows, err = tx.QueryContext(ctx, "SELECT uid FROM tombstones WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid", account, mailbox, since)
	if err != nil {
		return ch, dbErr("changes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return ch, dbErr("changes", err)
		}
		ch.Vanished = append(ch.Vanished, u)
	}
	return ch, dbErr("changes", rows.Err())
}
