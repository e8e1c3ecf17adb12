package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/postern/postern/internal/store"
)

// defaultMailboxes are created with every account (RFC 6154 special use).
var defaultMailboxes = []struct{ name, specialUse string }{
	{"INBOX", ""},
	{"Drafts", `\Drafts`},
	{"Sent", `\Sent`},
	{"Trash", `\Trash`},
	{"Junk", `\Junk`},
	{"Archive", `\Archive`},
}

// normAccountName lower-cases a login name and rejects empty names and
// names with spaces or control characters.
func normAccountName(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || !utf8.ValidString(name) || len(name) > 255 {
		return "", fmt.Errorf("invalid account name %q", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", fmt.Errorf("invalid account name %q", name)
		}
	}
	return name, nil
}

// CreateAccount adds an account with the default mailboxes, subscribed.
func (db *DB) CreateAccount(ctx context.Context, name string) (store.Account, error) {
	name, err := normAccountName(name)
	if err != nil {
		return store.Account{}, err
	}
	var acct store.Account
	err = db.write(ctx, func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM accounts WHERE name = ?", name).Scan(&n); err != nil {
			return dbErr("create account", err)
		}
		if n > 0 {
			return store.ErrAccountExists
		}
		res, err := w.exec("INSERT INTO accounts(name, created) VALUES (?, ?)", name, w.now.UnixNano())
		if err != nil {
			return dbErr("create account", err)
		}
		id, _ := res.LastInsertId()
		for _, mb := range defaultMailboxes {
			if _, err := db.insertMailbox(w, store.AccountID(id), mb.name, mb.specialUse); err != nil {
				return err
			}
			if _, err := w.exec("INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES (?, ?)", id, mb.name); err != nil {
				return dbErr("create account", err)
			}
		}
		acct = store.Account{ID: store.AccountID(id), Name: name, Secrets: map[string]string{}, Settings: map[string]string{}, Created: w.now}
		w.publish(store.Event{Account: acct.ID, Kind: store.EventAccount})
		return nil
	})
	return acct, err
}

const accountCols = "id, name, secrets, settings, quota_bytes, quota_messages, created"

func scanAccount(sc interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var secrets, settings string
	var created int64
	if err := sc.Scan(&a.ID, &a.Name, &secrets, &settings, &a.Quota.StorageBytes, &a.Quota.Messages, &created); err != nil {
		return a, err
	}
	a.Secrets = map[string]string{}
	a.Settings = map[string]string{}
	json.Unmarshal([]byte(secrets), &a.Secrets)
	json.Unmarshal([]byte(settings), &a.Settings)
	a.Created = time.Unix(0, created)
	return a, nil
}

// Account looks an account up by name (case-insensitive).
func (db *DB) Account(ctx context.Context, name string) (store.Account, error) {
	name, err := normAccountName(name)
	if err != nil {
		return store.Account{}, store.ErrNoAccount
	}
	a, err := scanAccount(db.rqueryRow(ctx, "SELECT "+accountCols+" FROM accounts WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNoAccount
	}
	return a, dbErr("account", err)
}

// Accounts lists every account by name.
func (db *DB) Accounts(ctx context.Context) ([]store.Account, error) {
	rows, err := db.rdb.QueryContext(ctx, "SELECT "+accountCols+" FROM accounts ORDER BY name")
	if err != nil {
		return nil, dbErr("accounts", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, dbErr("accounts", err)
		}
		out = append(out, a)
	}
	return out, dbErr("accounts", rows.Err())
}

// DeleteAccount removes the account, its mailboxes, messages, tombstones,
// subscriptions and thread index. Blobs no longer referenced are collected
// by Check(repair).
func (db *DB) DeleteAccount(ctx context.Context, name string) error {
	name, err := normAccountName(name)
	if err != nil {
		return store.ErrNoAccount
	}
	return db.write(ctx, func(w *wtx) error {
		var id store.AccountID
		if err := w.queryRow("SELECT id FROM accounts WHERE name = ?", name).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNoAccount
		} else if err != nil {
			return dbErr("delete account", err)
		}
		mbs, err := w.mailboxes(id)
		if err != nil {
			return err
		}
		for _, q := range append(slices.Clip(dropBlobsOfAccount),
			"DELETE FROM messages WHERE account_id = ?",
			"DELETE FROM tombstones WHERE account_id = ?",
			"DELETE FROM mailboxes WHERE account_id = ?",
			"DELETE FROM subscriptions WHERE account_id = ?",
			"DELETE FROM threads WHERE account_id = ?",
			"DELETE FROM accounts WHERE id = ?",
		) {
			if _, err := w.exec(q, id); err != nil {
				return dbErr("delete account", err)
			}
		}
		for _, mb := range mbs {
			w.publish(store.Event{Account: id, Mailbox: mb.ID, Kind: store.EventMailboxDelete, Name: mb.Name})
		}
		w.publish(store.Event{Account: id, Kind: store.EventAccount})
		return nil
	})
}

// updateAccount runs one UPDATE of the accounts row, ErrNoAccount when
// there is none.
// The account's id is the last argument.
func (db *DB) updateAccount(ctx context.Context, op, query string, args ...any) error {
	return db.write(ctx, func(w *wtx) error {
		res, err := w.exec(query, args...)
		if err != nil {
			return dbErr(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNoAccount
		}
		w.publish(store.Event{Account: args[len(args)-1].(store.AccountID), Kind: store.EventAccount})
		return nil
	})
}

// SetSecrets replaces the account's credential records.
func (db *DB) SetSecrets(ctx context.Context, account store.AccountID, secrets map[string]string) error {
	if secrets == nil {
		secrets = map[string]string{}
	}
	b, err := json.Marshal(secrets)
	if err != nil {
		return err
	}
	return db.updateAccount(ctx, "set secrets", "UPDATE accounts SET secrets = ? WHERE id = ?", string(b), account)
}

// SetSetting sets one per-account option; an empty value removes it.
func (db *DB) SetSetting(ctx context.Context, account store.AccountID, key, value string) error {
	return db.write(ctx, func(w *wtx) error {
		var raw string
		if err := w.queryRow("SELECT settings FROM accounts WHERE id = ?", account).Scan(&raw); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNoAccount
		} else if err != nil {
			return dbErr("set setting", err)
		}
		m := map[string]string{}
		json.Unmarshal([]byte(raw), &m)
		if value == "" {
			delete(m, key)
		} else {
			m[key] = value
		}
		b, _ := json.Marshal(m)
		if _, err := w.exec("UPDATE accounts SET settings = ? WHERE id = ?", string(b), account); err != nil {
			return dbErr("set setting", err)
		}
		w.publish(store.Event{Account: account, Kind: store.EventAccount})
		return nil
	})
}

// SetQuota sets the account's limits (zero: unlimited).
func (db *DB) SetQuota(ctx context.Context, account store.AccountID, q store.Quota) error {
	return db.updateAccount(ctx, "set quota", "UPDATE accounts SET quota_bytes = ?, quota_messages = ? WHERE id = ?",
		max(q.StorageBytes, 0), max(q.Messages, 0), account)
}

// Usage reports what the account holds (kept up to date by every write;
// Check verifies the sums).
func (db *DB) Usage(ctx context.Context, account store.AccountID) (store.Usage, error) {
	var u store.Usage
	err := db.rqueryRow(ctx, "SELECT used_bytes, used_messages FROM accounts WHERE id = ?", account).Scan(&u.StorageBytes, &u.Messages)
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNoAccount
	}
	return u, dbErr("usage", err)
}
