package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/postern/postern/internal/message"
	"github.com/postern/postern/internal/store"
)

// MessageRefs lists a mailbox's messages in UID order in one query over a
// covering index.
func (db *DB) MessageRefs(ctx context.Context, account store.AccountID, mailbox store.MailboxID) ([]store.MessageRef, error) {
	var n int
	if err := db.rdb.QueryRowContext(ctx, "SELECT count(*) FROM mailboxes WHERE account_id = ? AND id = ?", account, mailbox).Scan(&n); err != nil {
		return nil, dbErr("refs", err)
	}
	if n == 0 {
		return nil, store.ErrNoMailbox
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT uid, modseq, flags FROM messages INDEXED BY messages_refs
		WHERE account_id = ? AND mailbox_id = ? ORDER BY uid`, account, mailbox)
	if err != nil {
		return nil, dbErr("refs", err)
	}
	defer rows.Close()
	out := make([]store.MessageRef, 0, 64)
	var flags string
	for rows.Next() {
		var r store.MessageRef
		if err := rows.Scan(&r.UID, &r.ModSeq, &flags); err != nil {
			return nil, dbErr("refs", err)
		}
		r.Flags = splitFlags(flags)
		out = append(out, r)
	}
	return out, dbErr("refs", rows.Err())
}

// Fetch loads the requested rows chunk by chunk (one query per chunk of up
// to uidChunk UIDs) and calls fn for each message after the chunk's rows
// are read, so fn may take its time (write to a slow client, call other
// store methods) without holding a database connection.
func (db *DB) Fetch(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, opts store.FetchOptions, fn func(*store.Message) error) error {
	cols := "uid, modseq, flags, internaldate, internaldate_tz, savedate, size, blob_id, emailid, threadid"
	if opts.Envelope {
		cols += ", envelope"
	}
	if opts.BodyStructure {
		cols += ", body, bodystructure"
	}
	if opts.Structure {
		cols += ", structure"
	}
	if opts.Headers {
		cols += ", headers"
	}
	if opts.Preview {
		cols += ", preview"
	}
	base := "SELECT " + cols + " FROM messages WHERE account_id = ? AND mailbox_id = ? AND "
	for _, span := range uidSpans(uids) {
		where, args := span.where()
		msgs, err := db.fetchSpan(ctx, base+where+" ORDER BY uid", append([]any{account, mailbox}, args...), span, opts)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := fn(m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (db *DB) fetchSpan(ctx context.Context, query string, args []any, span uidSpan, opts store.FetchOptions) ([]*store.Message, error) {
	rows, err := db.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbErr("fetch", err)
	}
	defer rows.Close()
	filter := uidFilter{want: span.want}
	msgs := make([]*store.Message, 0, len(span.want))
	var (
		flags              string
		idate, tz, sdate   int64
		structure, headers []byte
		dest               = make([]any, 0, 16)
	)
	for rows.Next() {
		m := new(store.Message)
		dest = append(dest[:0], &m.UID, &m.ModSeq, &flags, &idate, &tz, &sdate, &m.Size, &m.BlobID, &m.EmailID, &m.ThreadID)
		if opts.Envelope {
			dest = append(dest, &m.EnvelopeIMAP)
		}
		if opts.BodyStructure {
			dest = append(dest, &m.BodyIMAP, &m.BodyStructureIMAP)
		}
		if opts.Structure {
			dest = append(dest, &structure)
		}
		if opts.Headers {
			dest = append(dest, &headers)
		}
		if opts.Preview {
			dest = append(dest, &m.Preview)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, dbErr("fetch", err)
		}
		if span.dense && !filter.ok(m.UID) {
			continue
		}
		m.Flags = splitFlags(flags)
		m.InternalDate = time.Unix(0, idate).In(zone(tz))
		m.SaveDate = time.Unix(0, sdate)
		if opts.Structure && len(structure) > 0 {
			m.Structure = new(message.Part)
			if err := json.Unmarshal(structure, m.Structure); err != nil {
				return nil, dbErr("fetch structure", err)
			}
		}
		if opts.Headers && len(headers) > 0 {
			if err := json.Unmarshal(headers, &m.Headers); err != nil {
				return nil, dbErr("fetch headers", err)
			}
		}
		msgs = append(msgs, m)
	}
	return msgs, dbErr("fetch", rows.Err())
}

// zone gives a fixed zone for an offset in seconds, UTC for zero.
func zone(offset int64) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	return time.FixedZone("", int(offset))
}

// OpenBody opens a stored message. A missing blob is ErrNoMessage.
func (db *DB) OpenBody(ctx context.Context, blobID string) (store.Body, error) {
	f, err := db.blobs.Open(strings.ToLower(blobID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, store.ErrNoMessage
	}
	if err != nil {
		return nil, store.ErrNoMessage
	}
	return f, nil
}

// allUIDs lists a mailbox's UIDs (writer side).
func (w *wtx) allUIDs(account store.AccountID, mailbox store.MailboxID) ([]store.UID, error) {
	rows, err := w.query("SELECT uid FROM messages WHERE account_id = ? AND mailbox_id = ? ORDER BY uid", account, mailbox)
	if err != nil {
		return nil, dbErr("uids", err)
	}
	defer rows.Close()
	var out []store.UID
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return nil, dbErr("uids", err)
		}
		out = append(out, u)
	}
	return out, dbErr("uids", rows.Err())
}

// msgState is what writes need to know about an existing message.
type msgState struct {
	uid    store.UID
	modseq uint64
	flags  []string
	size   int64
}

// loadStates reads the existing messages among uids, in UID order
// (writer side).
func (w *wtx) loadStates(account store.AccountID, mailbox store.MailboxID, uids []store.UID) ([]msgState, error) {
	var out []msgState
	for _, span := range uidSpans(uids) {
		where, args := span.where()
		rows, err := w.queryRaw("SELECT uid, modseq, flags, size FROM messages WHERE account_id = ? AND mailbox_id = ? AND "+where+" ORDER BY uid",
			append([]any{account, mailbox}, args...)...)
		if err != nil {
			return nil, dbErr("load", err)
		}
		filter := uidFilter{want: span.want}
		for rows.Next() {
			var s msgState
			var flags string
			if err := rows.Scan(&s.uid, &s.modseq, &flags, &s.size); err != nil {
				rows.Close()
				return nil, dbErr("load", err)
			}
			if span.dense && !filter.ok(s.uid) {
				continue
			}
			s.flags = splitFlags(flags)
			out = append(out, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, dbErr("load", err)
		}
	}
	return out, nil
}

var _ = sql.ErrNoRows
