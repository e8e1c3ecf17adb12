package sqlite

import (
	"database/sql"
	"time"

	"github.com/postern/postern/internal/store"
)

// poller publishes on this DB's hub the changes committed by other
// processes (or other DB values) on the same data directory. Every PollInterval
// it asks its own connection for PRAGMA data_version, which changes only
// when another connection committed; then it reads the new changelog rows
// and publishes those whose origin is not this DB (its own were published
// by the writer). It stops when the DB is closed.
func (db *DB) poller(conn *sql.Conn) {
	defer db.wg.Done()
	defer conn.Close()
	t := time.NewTicker(db.opts.PollInterval)
	defer t.Stop()
	var version int64 = -1
	for {
		select {
		case <-db.ctx.Done():
			return
		case <-t.C:
		}
		var v int64
		if err := conn.QueryRowContext(db.ctx, "PRAGMA data_version").Scan(&v); err != nil {
			if db.ctx.Err() == nil {
				db.log.Warn("store: poll", "err", err)
			}
			continue
		}
		if v == version {
			continue
		}
		version = v
		if err := db.pollChanges(conn); err != nil && db.ctx.Err() == nil {
			db.log.Warn("store: poll changes", "err", err)
		}
	}
}

// pollBatch bounds the changelog rows read per query.
const pollBatch = 4096

func (db *DB) pollChanges(conn *sql.Conn) error {
	for {
		more, err := db.pollBatchOnce(conn)
		if err != nil || !more {
			return err
		}
	}
}

// pollBatchOnce publishes up to pollBatch changes other processes made.
// Rows this process wrote (most of them, on a busy server) are skipped by
// SQLite, not read back: in one read transaction the highest id is noted
// and only foreign rows up to it are returned. more says a full batch
// came back and another may follow.
func (db *DB) pollBatchOnce(conn *sql.Conn) (more bool, err error) {
	tx, err := conn.BeginTx(db.ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var top int64
	if err := tx.QueryRowContext(db.ctx, "SELECT coalesce(max(id), 0) FROM changelog").Scan(&top); err != nil {
		return false, err
	}
	if top <= db.lastChange {
		return false, nil
	}
	rows, err := tx.QueryContext(db.ctx, `SELECT id, account_id, mailbox_id, kind, uid, modseq, name, old_name
		FROM changelog WHERE id > ? AND id <= ? AND origin <> ? ORDER BY id LIMIT ?`, db.lastChange, top, db.origin, pollBatch)
	if err != nil {
		return false, err
	}
	var events []store.Event
	last := top
	for rows.Next() {
		var ev store.Event
		if err := rows.Scan(&last, &ev.Account, &ev.Mailbox, &ev.Kind, &ev.UID, &ev.ModSeq, &ev.Name, &ev.OldName); err != nil {
			rows.Close()
			return false, err
		}
		events = append(events, ev)
		if ev.Kind == store.EventAppend {
			// Another process's deliveries (postern import, deliver)
			// defer this process's indexer as its own do: indexing
			// meanwhile would contend with them for the write lock.
			db.lastAppend.Store(time.Now().UnixNano())
			db.kickIndexer()
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	more = len(events) == pollBatch
	if !more {
		last = top
	}
	db.lastChange = last
	db.hub.Publish(events...)
	return more, nil
}
