package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"

	"github.com/postern/postern/internal/store"
)

// ChangesSince reads, in one read transaction, the messages and tombstones
// with a MODSEQ above since (RFC 7162 CHANGEDSINCE and QRESYNC).
//
// Concurrent calls for the same mailbox and mod-sequence share queries
// (freshFlight: never a result older than the call): when a delivery wakes
// thousands of IDLE sessions of one mailbox, they all ask the same question
// at once. Each caller gets its own copy of the slices.
func (db *DB) ChangesSince(ctx context.Context, account store.AccountID, mailbox store.MailboxID, since uint64) (store.Changes, error) {
	key := strconv.FormatInt(int64(account), 10) + "/" + strconv.FormatInt(int64(mailbox), 10) + "/" + strconv.FormatUint(since, 10)
	v, err, shared := db.changesFlight.Do(key, func() (any, error) {
		return db.changesSince(context.WithoutCancel(ctx), account, mailbox, since)
	})
	ch, _ := v.(store.Changes)
	if err != nil {
		return ch, err
	}
	if shared {
		ch.Changed = slices.Clone(ch.Changed)
		for i := range ch.Changed {
			ch.Changed[i].Flags = slices.Clip(ch.Changed[i].Flags)
		}
		ch.Vanished = slices.Clone(ch.Vanished)
	}
	return ch, nil
}

func (db *DB) changesSince(ctx context.Context, account store.AccountID, mailbox store.MailboxID, since uint64) (store.Changes, error) {
	var ch store.Changes
	tx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ch, dbErr("changes", err)
	}
	defer tx.Rollback()
	var pruned uint64
	err = db.txQueryRow(ctx, tx, "SELECT highestmodseq, tomb_pruned_modseq FROM mailboxes WHERE account_id = ? AND id = ?", account, mailbox).Scan(&ch.HighestModSeq, &pruned)
	if errors.Is(err, sql.ErrNoRows) {
		return ch, store.ErrNoMailbox
	}
	if err != nil {
		return ch, dbErr("changes", err)
	}
	ch.TombstonesPruned = pruned > since
	rows, err := db.txQuery(ctx, tx, "SELECT uid, modseq, flags FROM messages WHERE account_id = ? AND mailbox_id = ? AND modseq > ?", account, mailbox, since)
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
	rows, err = db.txQuery(ctx, tx, "SELECT uid FROM tombstones WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid", account, mailbox, since)
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
