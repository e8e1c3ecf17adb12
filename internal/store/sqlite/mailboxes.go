package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"

	"github.com/postern/postern/internal/store"
)

const mailboxCols = `m.id, m.account_id, m.name, m.uidvalidity, m.uidnext, m.highestmodseq, m.special_use,
	m.object_id, m.first_recent_uid,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = m.account_id AND s.name = m.name)`

func scanMailbox(sc interface{ Scan(...any) error }) (store.Mailbox, error) {
	var m store.Mailbox
	err := sc.Scan(&m.ID, &m.Account, &m.Name, &m.UIDValidity, &m.UIDNext, &m.HighestModSeq, &m.SpecialUse,
		&m.ObjectID, &m.FirstRecentUID, &m.Subscribed)
	return m, err
}

// queryer is what both the read pool and the writer offer for lookups.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func mailboxByID(ctx context.Context, q queryer, account store.AccountID, id store.MailboxID) (store.Mailbox, error) {
	m, err := scanMailbox(q.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes m WHERE m.account_id = ? AND m.id = ?", account, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, store.ErrNoMailbox
	}
	return m, dbErr("mailbox", err)
}

func mailboxByName(ctx context.Context, q queryer, account store.AccountID, name string) (store.Mailbox, error) {
	name, err := normMailboxName(name)
	if err != nil {
		return store.Mailbox{}, store.ErrNoMailbox
	}
	m, err := scanMailbox(q.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes m WHERE m.account_id = ? AND m.name = ?", account, name))
	if errors.Is(err, sql.ErrNoRows) {
		return m, store.ErrNoMailbox
	}
	return m, dbErr("mailbox", err)
}

// Mailboxes lists an account's mailboxes by name.
func (db *DB) Mailboxes(ctx context.Context, account store.AccountID) ([]store.Mailbox, error) {
	rows, err := db.rquery(ctx, "SELECT "+mailboxCols+" FROM mailboxes m WHERE m.account_id = ? ORDER BY m.name", account)
	if err != nil {
		return nil, dbErr("mailboxes", err)
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, dbErr("mailboxes", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("mailboxes", err)
	}
	if len(out) == 0 { // every account has INBOX
		return nil, store.ErrNoAccount
	}
	return out, nil
}

// Mailbox looks a mailbox up by name.
func (db *DB) Mailbox(ctx context.Context, account store.AccountID, name string) (store.Mailbox, error) {
	return mailboxByName(ctx, readQueryer{db}, account, name)
}

// MailboxByID looks a mailbox up by id.
func (db *DB) MailboxByID(ctx context.Context, account store.AccountID, id store.MailboxID) (store.Mailbox, error) {
	return mailboxByID(ctx, readQueryer{db}, account, id)
}

// writer-side lookups

func (w *wtx) mailboxByID(account store.AccountID, id store.MailboxID) (store.Mailbox, error) {
	return mailboxByID(w.ctx, w.db.wconn, account, id)
}

func (w *wtx) mailboxByName(account store.AccountID, name string) (store.Mailbox, error) {
	return mailboxByName(w.ctx, w.db.wconn, account, name)
}

func (w *wtx) mailboxes(account store.AccountID) ([]store.Mailbox, error) {
	rows, err := w.query("SELECT "+mailboxCols+" FROM mailboxes m WHERE m.account_id = ? ORDER BY m.name", account)
	if err != nil {
		return nil, dbErr("mailboxes", err)
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, dbErr("mailboxes", err)
		}
		out = append(out, m)
	}
	return out, dbErr("mailboxes", rows.Err())
}

// nextUIDValidity hands out UIDVALIDITY values: the current Unix time, or
// one more than the last value given when that is not larger, so that a
// mailbox deleted and created again in the same second still gets a new
// one (RFC 9051 §2.3.1.1).
func (w *wtx) nextUIDValidity() (uint32, error) {
	var last int64
	err := w.queryRow("SELECT value FROM meta WHERE key = 'uidvalidity'").Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, dbErr("uidvalidity", err)
	}
	v := max(w.now.Unix(), last+1)
	if v > 0xffffffff {
		v = 1 // after 2106: wrap, still unique per incarnation for decades
	}
	if _, err := w.exec("INSERT INTO meta(key, value) VALUES ('uidvalidity', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", v); err != nil {
		return 0, dbErr("uidvalidity", err)
	}
	return uint32(v), nil
}

// insertMailbox creates one mailbox row (the name already normalized and
// known to be free).
func (db *DB) insertMailbox(w *wtx, account store.AccountID, name, specialUse string) (store.Mailbox, error) {
	return db.insertMailboxUV(w, account, name, specialUse, 0)
}

// insertMailboxUV is insertMailbox with UIDVALIDITY uv (0: a new one).
func (db *DB) insertMailboxUV(w *wtx, account store.AccountID, name, specialUse string, uv uint32) (store.Mailbox, error) {
	if uv == 0 {
		var err error
		if uv, err = w.nextUIDValidity(); err != nil {
			return store.Mailbox{}, err
		}
	}
	m := store.Mailbox{Account: account, Name: name, UIDValidity: uv, UIDNext: 1, HighestModSeq: 1,
		SpecialUse: specialUse, ObjectID: newObjectID('F'), FirstRecentUID: 1}
	res, err := w.exec(`INSERT INTO mailboxes(account_id, name, uidvalidity, special_use, object_id, created)
		VALUES (?, ?, ?, ?, ?, ?)`, account, name, uv, specialUse, m.ObjectID, w.now.UnixNano())
	if err != nil {
		return m, dbErr("create mailbox", err)
	}
	id, _ := res.LastInsertId()
	m.ID = store.MailboxID(id)
	w.publish(store.Event{Account: account, Mailbox: m.ID, Kind: store.EventMailboxCreate, Name: name})
	return m, nil
}

// accountExists reports whether the account row exists (writer side).
func (w *wtx) accountExists(account store.AccountID) error {
	var n int
	if err := w.queryRow("SELECT count(*) FROM accounts WHERE id = ?", account).Scan(&n); err != nil {
		return dbErr("account", err)
	}
	if n == 0 {
		return store.ErrNoAccount
	}
	return nil
}

// ensureParents creates the missing ancestors of name.
func (db *DB) ensureParents(w *wtx, account store.AccountID, name string) error {
	for _, p := range parentNames(name) {
		_, err := w.mailboxByName(account, p)
		if errors.Is(err, store.ErrNoMailbox) {
			_, err = db.insertMailbox(w, account, p, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// CreateMailbox creates a mailbox and its missing parents. A single
// trailing separator is ignored (RFC 9051 §6.3.4).
func (db *DB) CreateMailbox(ctx context.Context, account store.AccountID, name, specialUse string) (store.Mailbox, error) {
	if len(name) > 1 && name[len(name)-1] == store.Separator {
		name = name[:len(name)-1]
	}
	name, err := normMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	su, ok := normSpecialUse(specialUse)
	if !ok {
		return store.Mailbox{}, store.ErrCannot
	}
	var mb store.Mailbox
	err = db.write(ctx, func(w *wtx) error {
		if err := w.accountExists(account); err != nil {
			return err
		}
		if _, err := w.mailboxByName(account, name); err == nil {
			return store.ErrMailboxExists
		} else if !errors.Is(err, store.ErrNoMailbox) {
			return err
		}
		if err := db.ensureParents(w, account, name); err != nil {
			return err
		}
		mb, err = db.insertMailbox(w, account, name, su)
		return err
	})
	return mb, err
}

// DeleteMailbox removes a childless mailbox other than INBOX with its
// messages and tombstones. Its name may be created again later with a new
// UIDVALIDITY.
func (db *DB) DeleteMailbox(ctx context.Context, account store.AccountID, name string) error {
	name, err := normMailboxName(name)
	if err != nil {
		return store.ErrNoMailbox
	}
	if name == "INBOX" {
		return store.ErrCannot
	}
	return db.write(ctx, func(w *wtx) error {
		mb, err := w.mailboxByName(account, name)
		if err != nil {
			return err
		}
		lo, hi := subtreeRange(name)
		var children int
		if err := w.queryRow("SELECT count(*) FROM mailboxes WHERE account_id = ? AND name >= ? AND name < ?", account, lo, hi).Scan(&children); err != nil {
			return dbErr("delete mailbox", err)
		}
		if children > 0 {
			return store.ErrHasChildren
		}
		if _, err := w.exec(`UPDATE accounts SET
				used_bytes = used_bytes - (SELECT coalesce(sum(size), 0) FROM messages WHERE account_id = ?1 AND mailbox_id = ?2),
				used_messages = used_messages - (SELECT count(*) FROM messages WHERE account_id = ?1 AND mailbox_id = ?2)
			WHERE id = ?1`, account, mb.ID); err != nil {
			return dbErr("delete mailbox", err)
		}
		for _, q := range append(slices.Clip(dropBlobsOfMailbox),
			"DELETE FROM messages WHERE account_id = ? AND mailbox_id = ?",
			"DELETE FROM tombstones WHERE account_id = ? AND mailbox_id = ?",
			"DELETE FROM mailboxes WHERE account_id = ? AND id = ?",
		) {
			if _, err := w.exec(q, account, mb.ID); err != nil {
				return dbErr("delete mailbox", err)
			}
		}
		w.publish(store.Event{Account: account, Mailbox: mb.ID, Kind: store.EventMailboxDelete, Name: name})
		return nil
	})
}

// RenameMailbox renames a mailbox and its subtree, keeping ids, UIDs and
// UIDVALIDITY; subscriptions of the subtree follow. Renaming INBOX creates
// the target and moves INBOX's messages there (new UIDs, tombstones in
// INBOX), leaving INBOX and its children in place (RFC 9051 §6.3.6).
func (db *DB) RenameMailbox(ctx context.Context, account store.AccountID, from, to string) error {
	from, err := normMailboxName(from)
	if err != nil {
		return store.ErrNoMailbox
	}
	to, err = normMailboxName(to)
	if err != nil {
		return err
	}
	if to == "INBOX" {
		return store.ErrMailboxExists
	}
	// Into its own subtree is impossible, except for INBOX, whose children
	// stay where they are (so "INBOX/old" is a fine target).
	if lo, _ := subtreeRange(from); from != "INBOX" && len(to) >= len(lo) && to[:len(lo)] == lo {
		return store.ErrCannot
	}
	return db.write(ctx, func(w *wtx) error {
		src, err := w.mailboxByName(account, from)
		if err != nil {
			return err
		}
		if _, err := w.mailboxByName(account, to); err == nil {
			return store.ErrMailboxExists
		} else if !errors.Is(err, store.ErrNoMailbox) {
			return err
		}
		if err := db.ensureParents(w, account, to); err != nil {
			return err
		}
		if from == "INBOX" {
			dst, err := db.insertMailbox(w, account, to, "")
			if err != nil {
				return err
			}
			uids, err := w.allUIDs(account, src.ID)
			if err != nil {
				return err
			}
			_, _, err = db.copyMessages(w, account, src, uids, dst, true)
			return err
		}
		type rename struct {
			id       store.MailboxID
			old, new string
		}
		renames := []rename{{src.ID, from, to}}
		lo, hi := subtreeRange(from)
		rows, err := w.query("SELECT id, name FROM mailboxes WHERE account_id = ? AND name >= ? AND name < ? ORDER BY name", account, lo, hi)
		if err != nil {
			return dbErr("rename", err)
		}
		for rows.Next() {
			var r rename
			if err := rows.Scan(&r.id, &r.old); err != nil {
				rows.Close()
				return dbErr("rename", err)
			}
			r.new = to + r.old[len(from):]
			renames = append(renames, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbErr("rename", err)
		}
		for _, r := range renames {
			var n int
			if err := w.queryRow("SELECT count(*) FROM mailboxes WHERE account_id = ? AND name = ?", account, r.new).Scan(&n); err != nil {
				return dbErr("rename", err)
			}
			if n > 0 {
				return store.ErrMailboxExists
			}
			if _, err := w.exec("UPDATE mailboxes SET name = ? WHERE account_id = ? AND id = ?", r.new, account, r.id); err != nil {
				return dbErr("rename", err)
			}
			if _, err := w.exec("UPDATE OR REPLACE subscriptions SET name = ? WHERE account_id = ? AND name = ?", r.new, account, r.old); err != nil {
				return dbErr("rename", err)
			}
			w.publish(store.Event{Account: account, Mailbox: r.id, Kind: store.EventMailboxRename, Name: r.new, OldName: r.old})
		}
		return nil
	})
}

// SetSubscribed adds or removes a subscription; the mailbox need not exist.
func (db *DB) SetSubscribed(ctx context.Context, account store.AccountID, name string, on bool) error {
	name, err := normMailboxName(name)
	if err != nil {
		return err
	}
	return db.write(ctx, func(w *wtx) error {
		if err := w.accountExists(account); err != nil {
			return err
		}
		q := "DELETE FROM subscriptions WHERE account_id = ? AND name = ?"
		if on {
			q = "INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES (?, ?)"
		}
		if _, err := w.exec(q, account, name); err != nil {
			return dbErr("subscribe", err)
		}
		ev := store.Event{Account: account, Kind: store.EventSubscribe, Name: name}
		if mb, err := w.mailboxByName(account, name); err == nil {
			ev.Mailbox = mb.ID
		}
		w.publish(ev)
		return nil
	})
}

// Subscriptions lists subscribed names in order.
func (db *DB) Subscriptions(ctx context.Context, account store.AccountID) ([]string, error) {
	rows, err := db.rquery(ctx, "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name", account)
	if err != nil {
		return nil, dbErr("subscriptions", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, dbErr("subscriptions", err)
		}
		out = append(out, s)
	}
	return out, dbErr("subscriptions", rows.Err())
}

// Status computes STATUS data in one query.
func (db *DB) Status(ctx context.Context, account store.AccountID, mailbox store.MailboxID) (store.Status, error) {
	var st store.Status
	mb, err := db.MailboxByID(ctx, account, mailbox)
	if err != nil {
		return st, err
	}
	st.Mailbox = mb
	err = db.rqueryRow(ctx, `SELECT count(*), coalesce(sum(seen = 0), 0), coalesce(sum(deleted), 0),
			coalesce(sum(uid >= ?), 0), coalesce(sum(size), 0)
		FROM messages INDEXED BY messages_refs WHERE account_id = ? AND mailbox_id = ?`, mb.FirstRecentUID, account, mailbox).
		Scan(&st.Messages, &st.Unseen, &st.Deleted, &st.Recent, &st.Size)
	return st, dbErr("status", err)
}

// ClaimRecent hands the \Recent messages to one session (RFC 3501 §2.3.2).
func (db *DB) ClaimRecent(ctx context.Context, account store.AccountID, mailbox store.MailboxID, upTo store.UID) (store.UID, error) {
	// Fast path: nothing recent to claim needs no write (a SELECT of an
	// unchanged mailbox must not queue behind deliveries). The read is
	// shared by concurrent claimers (many IDLE sessions woken at once),
	// never older than the call (freshFlight).
	key := strconv.FormatInt(int64(account), 10) + "/" + strconv.FormatInt(int64(mailbox), 10)
	v, err, _ := db.mailboxFlight.Do(key, func() (any, error) {
		return db.MailboxByID(context.WithoutCancel(ctx), account, mailbox)
	})
	if err != nil {
		return 0, err
	}
	if mb := v.(store.Mailbox); mb.FirstRecentUID > upTo || mb.FirstRecentUID >= mb.UIDNext {
		return mb.FirstRecentUID, nil
	}
	var first store.UID
	err = db.write(ctx, func(w *wtx) error {
		mb, err := w.mailboxByID(account, mailbox)
		if err != nil {
			return err
		}
		first = mb.FirstRecentUID
		if first > upTo || first >= mb.UIDNext {
			return nil
		}
		_, err = w.exec("UPDATE mailboxes SET first_recent_uid = ? WHERE account_id = ? AND id = ?", min(upTo+1, mb.UIDNext), account, mailbox)
		return dbErr("claim recent", err)
	})
	return first, err
}
