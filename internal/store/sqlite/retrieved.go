package sqlite

import (
	"context"
	"time"

	"github.com/postern/postern/internal/store"
)

// MarkRetrieved records the first POP3 retrieval of messages (EXPIRE, RFC
// 2449 §6.7) in one write job. Only rows without a time get one; the
// MODSEQ and flags stay as they are and nothing is published.
func (db *DB) MarkRetrieved(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, at time.Time) error {
	if len(uids) == 0 {
		return ctx.Err()
	}
	return db.write(ctx, func(w *wtx) error {
		for list := range uidLists(uids) {
			if _, err := w.exec(`UPDATE messages SET retrieved_at = ?
				WHERE account_id = ? AND mailbox_id = ? AND retrieved_at = 0 AND uid IN (SELECT value FROM json_each(?))`,
				at.UnixNano(), account, mailbox, list); err != nil {
				return dbErr("mark retrieved", err)
			}
		}
		return nil
	})
}

// RetrievedBefore lists the messages first retrieved before the given
// time, from the partial index of retrieved messages.
func (db *DB) RetrievedBefore(ctx context.Context, account store.AccountID, mailbox store.MailboxID, before time.Time) ([]store.UID, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT uid FROM messages INDEXED BY messages_retrieved
		WHERE account_id = ? AND mailbox_id = ? AND retrieved_at > 0 AND retrieved_at < ? ORDER BY uid`,
		account, mailbox, before.UnixNano())
	if err != nil {
		return nil, dbErr("retrieved before", err)
	}
	defer rows.Close()
	var uids []store.UID
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, dbErr("retrieved before", err)
		}
		uids = append(uids, store.UID(uid))
	}
	return uids, dbErr("retrieved before", rows.Err())
}
