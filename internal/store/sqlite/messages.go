package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/postern/postern/internal/message"
	"github.com/postern/postern/internal/store"
)

// MessageRefs lists a mailbox's messages in UID order, read in one query
// over the covering index messages_refs (scanRefs), or from refsCache when
// the mailbox has not changed. Flag lists are interned: refs with the same
// flags share one slice, capped so that an append by the caller copies;
// callers must not assign to their elements.
func (db *DB) MessageRefs(ctx context.Context, account store.AccountID, mailbox store.MailboxID) ([]store.MessageRef, error) {
	// One read transaction, so that HIGHESTMODSEQ matches the rows (see
	// refsCache).
	tx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("refs", err)
	}
	defer tx.Rollback()
	var hms, pruned uint64
	err = db.txQueryRow(ctx, tx, "SELECT highestmodseq, tomb_pruned_modseq FROM mailboxes WHERE account_id = ? AND id = ?", account, mailbox).Scan(&hms, &pruned)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNoMailbox
	}
	if err != nil {
		return nil, dbErr("refs", err)
	}
	key := mailboxKey{account, mailbox}
	if e, ok := db.refs.entry(key); ok && e.modseq <= hms {
		if e.modseq == hms {
			db.refs.hits.Add(1)
			return slices.Clone(e.refs), nil
		}
		out, ok, err := refsDelta(ctx, tx, key, e, pruned)
		if err != nil {
			return nil, dbErr("refs", err)
		}
		if ok {
			db.refs.deltas.Add(1)
			db.refs.put(key, hms, out)
			return slices.Clone(out), nil
		}
	}
	out, err := scanRefs(ctx, tx, account, mailbox)
	if err != nil {
		return nil, dbErr("refs", err)
	}
	if len(out) >= refsCacheMin {
		db.refs.put(key, hms, out)
		out = slices.Clone(out)
	}
	return out, nil
}

// refsQuery reads a mailbox's refs from the covering index alone
// (TestQueryPlans checks the plan).
const refsQuery = `SELECT uid, modseq, flags FROM messages INDEXED BY messages_refs
	WHERE account_id = ? AND mailbox_id = ? ORDER BY uid`

// scanRefs runs refsQuery in tx. Scanning into int64 takes database/sql's
// fast path; a store.UID or uint64 destination goes through reflection
// and a string round trip per value. (Fetching the refs as one
// group_concat text value per page was tried: no faster, as the time is
// SQLite's own.)
func scanRefs(ctx context.Context, tx *sql.Tx, account store.AccountID, mailbox store.MailboxID) ([]store.MessageRef, error) {
	rows, err := tx.QueryContext(ctx, refsQuery, account, mailbox)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]store.MessageRef, 0, 64)
	var (
		uid, modseq int64
		flags       sql.RawBytes
		intern      flagInterner
	)
	for rows.Next() {
		if err := rows.Scan(&uid, &modseq, &flags); err != nil {
			return nil, err
		}
		out = append(out, store.MessageRef{UID: store.UID(uid), ModSeq: uint64(modseq), Flags: intern.flags(flags)})
	}
	return out, rows.Err()
}

// flagInterner turns stored flag strings into flag lists, sharing one
// list per distinct string within one read (a mailbox has few distinct
// flag combinations). Lists are capped (len == cap) so an append by a
// caller never writes into a shared array; callers must not assign to
// elements. Not safe for concurrent use.
type flagInterner struct {
	last *internedFlags
	m    map[string]*internedFlags
}

type internedFlags struct {
	raw   string
	flags []string
}

func (fi *flagInterner) flags(raw []byte) []string {
	if len(raw) == 0 {
		return []string{}
	}
	if fi.last != nil && string(raw) == fi.last.raw {
		return fi.last.flags
	}
	e, ok := fi.m[string(raw)]
	if !ok {
		key := string(raw)
		e = &internedFlags{raw: key, flags: slices.Clip(splitFlags(key))}
		if len(fi.m) >= maxInternedFlagSets {
			return e.flags
		}
		if fi.m == nil {
			fi.m = make(map[string]*internedFlags)
		}
		fi.m[key] = e
	}
	fi.last = e
	return e.flags
}

// maxInternedFlagSets bounds an interner's map (a mailbox where every
// message has its own keywords gains nothing from it).
const maxInternedFlagSets = 1024

// Fetch loads the requested rows chunk by chunk (one query per chunk of up
// to uidChunk UIDs) and calls fn for each message after the chunk's rows
// are read, so fn may take its time (write to a slow client, call other
// store methods) without holding a database connection.
func (db *DB) Fetch(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, opts store.FetchOptions, fn func(*store.Message) error) error {
	if opts.FlagsOnly {
		return db.fetchFlags(ctx, account, mailbox, uids, fn)
	}
	cols := "uid, modseq, flags, internaldate, internaldate_tz, savedate, size, line_end_pad, blob_id, emailid, threadid"
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
	from := " FROM messages m"
	if opts.Envelope || opts.BodyStructure || opts.Structure || opts.Headers || opts.Preview {
		from = " FROM messages m LEFT JOIN message_meta mm ON mm.id = m.id"
	}
	base := "SELECT " + cols + from + " WHERE m.account_id = ? AND m.mailbox_id = ? AND "
	var rs fetchState
	for _, span := range uidSpans(uids) {
		where, args := span.where()
		msgs, err := db.fetchSpan(ctx, base+where+" ORDER BY uid", append([]any{account, mailbox}, args...), span, opts, &rs)
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

// fetchFlags is Fetch with FlagsOnly: UID, MODSEQ and flags come from
// the covering index messages_refs alone, without reading the messages
// rows (the table lookup per message was most of the cost of a
// FETCH (FLAGS) (CHANGEDSINCE m) that returns 100 messages spread over a
// big mailbox).
func (db *DB) fetchFlags(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, fn func(*store.Message) error) error {
	if len(uids) >= refsCacheMin {
		return db.fetchFlagsFromRefs(ctx, account, mailbox, uids, fn)
	}
	var flagSets flagInterner
	for _, span := range uidSpans(uids) {
		where, args := span.where()
		rows, err := db.rquery(ctx, "SELECT uid, modseq, flags FROM messages INDEXED BY messages_refs WHERE account_id = ? AND mailbox_id = ? AND "+where+" ORDER BY uid",
			append([]any{account, mailbox}, args...)...)
		if err != nil {
			return dbErr("fetch", err)
		}
		filter := uidFilter{want: span.want}
		msgs := make([]store.Message, 0, len(span.want))
		var uid, modseq int64
		var flags sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&uid, &modseq, &flags); err != nil {
				rows.Close()
				return dbErr("fetch", err)
			}
			if span.dense && !filter.ok(store.UID(uid)) {
				continue
			}
			msgs = append(msgs, store.Message{UID: store.UID(uid), ModSeq: uint64(modseq), Flags: flagSets.flags(flags)})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return dbErr("fetch", err)
		}
		for i := range msgs {
			if err := fn(&msgs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetchFlagsFromRefs is fetchFlags for many UIDs (UID FETCH 1:* (UID
// FLAGS) on a big mailbox, the flag scan of clients that synchronize
// without CONDSTORE): the mailbox's MessageRefs, which refsCache keeps
// for big mailboxes and checks against HIGHESTMODSEQ in the same read
// transaction, so that an unchanged mailbox costs a copy instead of a
// scan through database/sql (on 100,000 messages that scan was about
// 170 ms, twice Dovecot's whole answer).
func (db *DB) fetchFlagsFromRefs(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, fn func(*store.Message) error) error {
	refs, err := db.MessageRefs(ctx, account, mailbox)
	if err != nil {
		return err
	}
	want := slices.Clone(uids)
	slices.Sort(want)
	want = slices.Compact(want)
	filter := uidFilter{want: want}
	var m store.Message
	for _, r := range refs { // ascending UIDs
		if !filter.ok(r.UID) {
			continue
		}
		m = store.Message{UID: r.UID, ModSeq: r.ModSeq, Flags: r.Flags}
		if err := fn(&m); err != nil {
			return err
		}
	}
	return nil
}

// fetchState is what one Fetch shares across its chunks: interned flag
// lists and time zones.
type fetchState struct {
	flags flagInterner
	zones zoneCache
}

func (db *DB) fetchSpan(ctx context.Context, query string, args []any, span uidSpan, opts store.FetchOptions, rs *fetchState) ([]*store.Message, error) {
	// A dense span's text depends on the columns only, a sparse one's
	// passes its UIDs as one parameter: both are cached statements.
	rows, err := db.rquery(ctx, query, args...)
	if err != nil {
		return nil, dbErr("fetch", err)
	}
	defer rows.Close()
	filter := uidFilter{want: span.want}
	msgs := make([]*store.Message, 0, len(span.want))
	var (
		flags, structure, headers     sql.RawBytes
		envelope, body, bodystructure sql.RawBytes
		uid, modseq, idate, tz, sdate int64
		dest                          = make([]any, 0, 16)
	)
	for rows.Next() {
		m := new(store.Message)
		dest = append(dest[:0], &uid, &modseq, &flags, &idate, &tz, &sdate, &m.Size, &m.LineEndPad, &m.BlobID, &m.EmailID, &m.ThreadID)
		if opts.Envelope {
			dest = append(dest, &envelope)
		}
		if opts.BodyStructure {
			dest = append(dest, &body, &bodystructure)
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
		m.UID, m.ModSeq = store.UID(uid), uint64(modseq)
		if span.dense && !filter.ok(m.UID) {
			continue
		}
		// Scan into RawBytes passes the driver's []byte through without
		// the copy Scan into *[]byte makes; the message keeps it (see
		// driverBlob).
		m.EnvelopeIMAP = driverBlob(envelope)
		m.BodyIMAP = driverBlob(body)
		m.BodyStructureIMAP = driverBlob(bodystructure)
		m.Flags = rs.flags.flags(flags)
		m.InternalDate = time.Unix(0, idate).In(rs.zones.get(tz))
		m.SaveDate = time.Unix(0, sdate)
		if opts.Structure && len(structure) > 0 {
			m.Structure = new(message.Part)
			if err := json.Unmarshal(structure, m.Structure); err != nil {
				return nil, dbErr("fetch structure", err)
			}
		}
		if opts.Headers && len(headers) > 0 {
			if err := decodeHeaders(headers, &m.Headers, &rs.zones); err != nil {
				return nil, dbErr("fetch headers", err)
			}
		}
		msgs = append(msgs, m)
	}
	return msgs, dbErr("fetch", rows.Err())
}

// driverBlob keeps a BLOB value scanned into sql.RawBytes beyond the
// row. database/sql only promises RawBytes until the next Next, but the
// driver (modernc.org/sqlite, conn.columnBlob) copies every BLOB value
// into a fresh slice per row, which database/sql passes through
// unchanged; TestFetchBlobsOwned fails should a driver upgrade start
// reusing buffers. Empty values are nil, as Scan into *[]byte gives.
func driverBlob(b sql.RawBytes) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// zone gives a fixed zone for an offset in seconds, UTC for zero.
func zone(offset int64) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	return time.FixedZone("", int(offset))
}

// OpenBody opens a stored message: its inline body if the bodies table
// has it, else its blob file. A missing body is ErrNoMessage.
func (db *DB) OpenBody(ctx context.Context, blobID string) (store.Body, error) {
	id := strings.ToLower(blobID)
	var data []byte
	err := db.rqueryRow(ctx, "SELECT data FROM bodies WHERE id = ?", id).Scan(&data)
	switch {
	case err == nil:
		return memBody{bytes.NewReader(data)}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, dbErr("body", err)
	}
	f, err := db.blobs.Open(id)
	if err != nil {
		return nil, store.ErrNoMessage
	}
	return f, nil
}

// memBody is an inline body read into memory.
type memBody struct{ *bytes.Reader }

func (memBody) Close() error { return nil }

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
	row    int64 // messages.id
	uid    store.UID
	modseq uint64
	flags  []string
	size   int64
	// adj: the mailbox's previous message in UID order is the state
	// before this one in the result, so a range of UIDs from one state
	// to a later one covers exactly the states between them.
	adj bool
}

// loadStates reads the existing messages among uids, in UID order
// (writer side).
func (w *wtx) loadStates(account store.AccountID, mailbox store.MailboxID, uids []store.UID) ([]msgState, error) {
	var (
		out    []msgState
		intern flagInterner
	)
	for _, span := range uidSpans(uids) {
		where, args := span.where()
		rows, err := w.queryRaw("SELECT id, uid, modseq, flags, size FROM messages WHERE account_id = ? AND mailbox_id = ? AND "+where+" ORDER BY uid",
			append([]any{account, mailbox}, args...)...)
		if err != nil {
			return nil, dbErr("load", err)
		}
		filter := uidFilter{want: span.want}
		var (
			row, uid, modseq, size int64
			flags                  sql.RawBytes
		)
		// A dense span reads every message between its ends, so it knows
		// which of them follow each other; a sparse one does not.
		prevKept := false
		for rows.Next() {
			if err := rows.Scan(&row, &uid, &modseq, &flags, &size); err != nil {
				rows.Close()
				return nil, dbErr("load", err)
			}
			if span.dense && !filter.ok(store.UID(uid)) {
				prevKept = false
				continue
			}
			out = append(out, msgState{row: row, uid: store.UID(uid), modseq: uint64(modseq), flags: intern.flags(flags), size: size, adj: span.dense && prevKept})
			prevKept = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, dbErr("load", err)
		}
	}
	return out, nil
}

var _ = sql.ErrNoRows
