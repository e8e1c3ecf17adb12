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
		rows, err := conn.QueryContext(db.ctx, `SELECT id, origin, account_id, mailbox_id, kind, uid, modseq, name, old_name
			FROM changelog WHERE id > ? ORDER BY id LIMIT ?`, db.lastChange, pollBatch)
		if err != nil {
			return err
		}
		var events []store.Event
		n := 0
		for rows.Next() {
			var ev store.Event
			var origin string
			if err := rows.Scan(&db.lastChange, &origin, &ev.Account, &ev.Mailbox, &ev.Kind, &ev.UID, &ev.ModSeq, &ev.Name, &ev.OldName); err != nil {
				rows.Close()
				return err
			}
			n++
			if origin != db.origin {
				events = append(events, ev)
				if ev.Kind == store.EventAppend {
					db.kickIndexer()
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		db.hub.Publish(events...)
		if n < pollBatch {
			return nil
		}
	}
}
