package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version records how many
// ran. Never edit a released step: append a new one.
//
// Every table is keyed by account first (DESIGN.md §3) so that a shared
// backend can shard by account. Times are Unix nanoseconds.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	name           TEXT NOT NULL UNIQUE,
	secrets        TEXT NOT NULL DEFAULT '{}',
	settings       TEXT NOT NULL DEFAULT '{}',
	quota_bytes    INTEGER NOT NULL DEFAULT 0,
	quota_messages INTEGER NOT NULL DEFAULT 0,
	used_bytes     INTEGER NOT NULL DEFAULT 0,
	used_messages  INTEGER NOT NULL DEFAULT 0,
	created        INTEGER NOT NULL
);

CREATE TABLE mailboxes (
	id                 INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id         INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name               TEXT NOT NULL,
	uidvalidity        INTEGER NOT NULL,
	uidnext            INTEGER NOT NULL DEFAULT 1,
	highestmodseq      INTEGER NOT NULL DEFAULT 1,
	special_use        TEXT NOT NULL DEFAULT '',
	object_id          TEXT NOT NULL,
	first_recent_uid   INTEGER NOT NULL DEFAULT 1,
	tomb_pruned_modseq INTEGER NOT NULL DEFAULT 0,
	created            INTEGER NOT NULL
);
CREATE UNIQUE INDEX mailboxes_name ON mailboxes(account_id, name);

CREATE TABLE messages (
	-- AUTOINCREMENT: ids never come back, so the text indexer's progress
	-- mark (meta 'fts_upto') never skips a row.
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id      INTEGER NOT NULL,
	mailbox_id      INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid             INTEGER NOT NULL,
	modseq          INTEGER NOT NULL,
	flags           TEXT NOT NULL DEFAULT '',
	seen            INTEGER NOT NULL DEFAULT 0,
	deleted         INTEGER NOT NULL DEFAULT 0,
	internaldate    INTEGER NOT NULL,
	internaldate_tz INTEGER NOT NULL DEFAULT 0,
	savedate        INTEGER NOT NULL,
	size            INTEGER NOT NULL,
	blob_id         TEXT NOT NULL,
	emailid         TEXT NOT NULL,
	threadid        TEXT NOT NULL,
	envelope        BLOB,
	body            BLOB,
	bodystructure   BLOB,
	structure       BLOB,
	headers         BLOB,
	preview         TEXT NOT NULL DEFAULT '',
	hdr_subject     TEXT NOT NULL DEFAULT '',
	hdr_from        TEXT NOT NULL DEFAULT '',
	hdr_date        INTEGER NOT NULL DEFAULT 0,
	hdr_messageid   TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX messages_uid ON messages(account_id, mailbox_id, uid);
CREATE INDEX messages_refs ON messages(account_id, mailbox_id, uid, modseq, flags);
CREATE INDEX messages_modseq ON messages(account_id, mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);

CREATE TABLE tombstones (
	account_id  INTEGER NOT NULL,
	mailbox_id  INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid         INTEGER NOT NULL,
	modseq      INTEGER NOT NULL,
	expunged_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX tombstones_modseq ON tombstones(account_id, mailbox_id, modseq);
CREATE INDEX tombstones_age ON tombstones(expunged_at);

CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;

-- threads maps Message-IDs seen in an account to their RFC 8474 THREADID.
CREATE TABLE threads (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	message_id TEXT NOT NULL,
	threadid   TEXT NOT NULL,
	PRIMARY KEY (account_id, message_id)
) WITHOUT ROWID;

-- changelog carries change events between processes sharing the data
-- directory (the CLI beside a server); rows are pruned after minutes.
CREATE TABLE changelog (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	origin     TEXT NOT NULL,
	at         INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	mailbox_id INTEGER NOT NULL,
	kind       INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	name       TEXT NOT NULL DEFAULT '',
	old_name   TEXT NOT NULL DEFAULT ''
);
`,
	// 2: full-text index of decoded message text, one row per blob (copies
	// share it). The trigram tokenizer gives substring matches for needles
	// of three characters or more.
	`
CREATE TABLE blob_text (
	id      INTEGER PRIMARY KEY,
	blob_id TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE text_fts USING fts5(header, body, content='', contentless_delete=1, tokenize='trigram');
`,
	// 3: the per-message state index also covers STATUS (unseen, deleted,
	// size), so STATUS of a big mailbox reads the index only.
	`
DROP INDEX messages_refs;
CREATE INDEX messages_refs ON messages(account_id, mailbox_id, uid, modseq, flags, seen, deleted, size);
`,
	// 4: the foreign keys from messages and tombstones to mailboxes need
	// an index led by mailbox_id, or deleting a mailbox scans every row.
	`
CREATE INDEX messages_mailbox ON messages(mailbox_id);
CREATE INDEX tombstones_mailbox ON tombstones(mailbox_id);
`,
	// 5: small message bodies kept in the database (Options.InlineMax),
	// content-addressed like blob files: id is the hex SHA-256 of data.
	`
CREATE TABLE bodies (
	id   TEXT PRIMARY KEY,
	data BLOB NOT NULL
);
`,
	// 6: what completes a message's last line (store.Message.LineEndPad),
	// so that POP3 sizes are exact without reading bodies. Rows stored
	// before keep -1 (unknown); adding the column rewrites nothing.
	`
ALTER TABLE messages ADD COLUMN line_end_pad INTEGER NOT NULL DEFAULT -1;
`,
	// 7: when POP3 first retrieved a message (0: never), for the EXPIRE
	// policy; the partial index holds only retrieved messages.
	`
ALTER TABLE messages ADD COLUMN retrieved_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_retrieved ON messages(account_id, mailbox_id, retrieved_at) WHERE retrieved_at > 0;
`,
	// 8: a message's parsed metadata (what FETCH ENVELOPE, BODYSTRUCTURE,
	// header searches, the text indexer and PREVIEW read) moves to a table
	// of its own, one row per message row. SQLite rewrites a whole row to
	// change one column: with the metadata inline, a flag change rewrote
	// about a kilobyte per message (and its overflow pages) into the WAL.
	// The small hdr_* columns stay: SEARCH and SORT read them for every
	// message of a mailbox. hdr_to, hdr_cc and hdr_bcc (the decoded
	// fields) narrow SEARCH TO, CC and BCC as hdr_from does FROM; rows
	// stored before have NULL there (unknown: every such row is a
	// candidate).
	`
CREATE TABLE message_meta (
	id            INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	account_id    INTEGER NOT NULL, -- the message's: rows go with their account
	envelope      BLOB,
	body          BLOB,
	bodystructure BLOB,
	structure     BLOB,
	headers       BLOB,
	preview       TEXT NOT NULL DEFAULT '',
	hdr_to        TEXT,
	hdr_cc        TEXT,
	hdr_bcc       TEXT
);
INSERT INTO message_meta(id, account_id, envelope, body, bodystructure, structure, headers, preview)
	SELECT id, account_id, envelope, body, bodystructure, structure, headers, preview FROM messages;
ALTER TABLE messages DROP COLUMN envelope;
ALTER TABLE messages DROP COLUMN body;
ALTER TABLE messages DROP COLUMN bodystructure;
ALTER TABLE messages DROP COLUMN structure;
ALTER TABLE messages DROP COLUMN headers;
ALTER TABLE messages DROP COLUMN preview;
`,
	// 9: the text of expunged messages leaves the full-text index in the
	// background: text_gone queues blob_text ids for the indexer to check
	// and drop (dropGoneText). What earlier expunges left there (they did
	// not remove it) is queued now.
	`
CREATE TABLE text_gone (id INTEGER PRIMARY KEY);
INSERT INTO text_gone(id) SELECT id FROM blob_text b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.blob_id);
`,
}

// migrate brings the schema up to date inside one immediate transaction.
func migrate(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("migrate: database schema %d is newer than this program (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := conn.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate step %d: %w", i+1, err)
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	ok = true
	return nil
}
