package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/postern/postern/internal/message"
	"github.com/postern/postern/internal/store"
)

// Append adds staged messages in one durable commit. The call becomes one
// write job; jobs of concurrent callers share a transaction and a single
// fsync (see writer). Per-request failures (ErrNoMailbox, ErrOverQuota) are
// in the results; the other requests still commit.
func (db *DB) Append(ctx context.Context, reqs []store.AppendRequest) ([]store.AppendResult, error) {
	return db.appendBatch(ctx, reqs, nil)
}

// appendBatch is Append and, with uids (one per request), AppendWithUIDs.
func (db *DB) appendBatch(ctx context.Context, reqs []store.AppendRequest, uids []store.UID) ([]store.AppendResult, error) {
	results := make([]store.AppendResult, len(reqs))
	if len(reqs) == 0 {
		return results, ctx.Err()
	}
	blobs := make([]string, 0, len(reqs))
	for _, r := range reqs {
		if r.Message != nil && r.Message.Inline == nil {
			blobs = append(blobs, r.Message.BlobID)
		}
	}
	err := db.writeBlobs(ctx, blobs, func(w *wtx) error {
		st := &appendState{}
		for i := range reqs {
			var uid store.UID
			if uids != nil {
				uid = uids[i]
			}
			res, err := db.appendOne(w, st, &reqs[i], uid)
			if err != nil && !isRequestError(err) {
				return err
			}
			res.Err = err
			results[i] = res
		}
		return st.flush(w)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func isRequestError(err error) bool {
	return errors.Is(err, store.ErrNoMailbox) || errors.Is(err, store.ErrOverQuota) ||
		errors.Is(err, store.ErrNoAccount) || errors.Is(err, store.ErrTooLarge) ||
		errors.Is(err, store.ErrNoMessage) || errors.Is(err, ErrUIDTooLow)
}

// checkQuota fails with ErrOverQuota when adding n messages of size bytes
// would pass the account's limits.
func (w *wtx) checkQuota(account store.AccountID, n, size int64) error {
	var qb, qm, ub, um int64
	err := w.queryRow("SELECT quota_bytes, quota_messages, used_bytes, used_messages FROM accounts WHERE id = ?", account).Scan(&qb, &qm, &ub, &um)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNoAccount
	}
	if err != nil {
		return dbErr("quota", err)
	}
	if qb > 0 && ub+size > qb || qm > 0 && um+n > qm {
		return store.ErrOverQuota
	}
	return nil
}

func (w *wtx) addUsage(account store.AccountID, n, size int64) error {
	_, err := w.exec("UPDATE accounts SET used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = ?", size, n, account)
	return dbErr("usage", err)
}

// appendOne adds one message in the writer. uid > 0 asks for that UID
// (AppendWithUIDs); it must be at least UIDNEXT, else ErrUIDTooLow.
func (db *DB) appendOne(w *wtx, st *appendState, req *store.AppendRequest, uid store.UID) (store.AppendResult, error) {
	var res store.AppendResult
	if req.Message == nil {
		return res, store.ErrNoMessage
	}
	mb, err := st.mailbox(w, req.Account, req.Mailbox)
	if err != nil {
		return res, err
	}
	res.UIDValidity = mb.uidValidity
	uidNext := mb.uidNext
	if uid > 0 {
		if uid < uidNext || uid >= maxUID {
			return res, ErrUIDTooLow
		}
		uidNext = uid
	}
	size := req.Message.Size
	acct, err := st.account(w, req.Account)
	if err != nil {
		return res, err
	}
	if !req.IgnoreQuota && acct.over(1, size) {
		return res, store.ErrOverQuota
	}
	p := req.Message.Parsed
	if p == nil {
		p = &message.Parsed{}
	}
	threadID, err := w.threadID(req.Account, &p.Headers)
	if err != nil {
		return res, err
	}
	date := req.InternalDate
	if date.IsZero() {
		date = w.now
	}
	_, tz := date.Zone()
	flags := normFlags(req.Flags)
	var structure []byte
	if p.Root != nil {
		structure, _ = json.Marshal(p.Root)
	}
	headers := encodeHeaders(&p.Headers)
	var hdrDate int64
	if !p.Headers.Date.IsZero() {
		hdrDate = p.Headers.Date.UnixNano()
	}
	res.UID, res.ModSeq = uidNext, mb.hms+1
	if data := req.Message.Inline; data != nil {
		// Content-addressed: the same bytes appended twice (a COPY-like
		// redelivery, two recipients) share one row.
		if _, err := w.exec("INSERT OR IGNORE INTO bodies(id, data) VALUES (?, ?)", req.Message.BlobID, data); err != nil {
			return res, dbErr("append body", err)
		}
	}
	r, err := w.exec(`INSERT INTO messages(account_id, mailbox_id, uid, modseq, flags, seen, deleted,
			internaldate, internaldate_tz, savedate, size, blob_id, emailid, threadid,
			hdr_subject, hdr_from, hdr_date, hdr_messageid, line_end_pad)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		req.Account, req.Mailbox, res.UID, res.ModSeq, joinFlags(flags),
		boolInt(hasFlag(flags, store.FlagSeen)), boolInt(hasFlag(flags, store.FlagDeleted)),
		date.UnixNano(), tz, w.now.UnixNano(), size, req.Message.BlobID, newObjectID('M'), threadID,
		p.Headers.Subject, p.Headers.From, hdrDate, p.Headers.MessageID, req.Message.LineEndPad)
	if err != nil {
		return res, dbErr("append", err)
	}
	rowID, err := r.LastInsertId()
	if err != nil {
		return res, dbErr("append", err)
	}
	if _, err := w.exec(`INSERT INTO message_meta(id, account_id, envelope, body, bodystructure, structure, headers, preview,
			hdr_to, hdr_cc, hdr_bcc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rowID, req.Account, p.EnvelopeIMAP, p.BodyIMAP, p.BodyStructureIMAP, structure, headers, p.Preview,
		p.Headers.To, p.Headers.Cc, p.Headers.Bcc); err != nil {
		return res, dbErr("append", err)
	}
	mb.uidNext, mb.hms, mb.dirty = res.UID+1, res.ModSeq, true
	acct.addN++
	acct.addB += size
	w.publish(store.Event{Account: req.Account, Mailbox: req.Mailbox, Kind: store.EventAppend, UID: res.UID, ModSeq: res.ModSeq})
	return res, nil
}

// appendState caches, for one Append job, the mailbox counters and the
// account usage its requests change, so that a job of many requests (an
// import batch) reads and writes each mailbox and account row once
// instead of once per message. Used by the writer goroutine only.
type appendState struct {
	mailboxes map[mailboxKey]*appendMailbox
	accounts  map[store.AccountID]*appendAccount
}

type mailboxKey struct {
	account store.AccountID
	mailbox store.MailboxID
}

type appendMailbox struct {
	uidValidity uint32
	uidNext     store.UID
	hms         uint64
	dirty       bool
}

type appendAccount struct {
	quotaBytes, quotaMessages int64
	usedBytes, usedMessages   int64
	addB, addN                int64 // added by this job so far
}

// over reports whether n more messages of size octets pass the quota.
func (a *appendAccount) over(n, size int64) bool {
	return a.quotaBytes > 0 && a.usedBytes+a.addB+size > a.quotaBytes ||
		a.quotaMessages > 0 && a.usedMessages+a.addN+n > a.quotaMessages
}

func (st *appendState) mailbox(w *wtx, account store.AccountID, mailbox store.MailboxID) (*appendMailbox, error) {
	k := mailboxKey{account, mailbox}
	if mb, ok := st.mailboxes[k]; ok {
		return mb, nil
	}
	mb := &appendMailbox{}
	err := w.queryRow("SELECT uidvalidity, uidnext, highestmodseq FROM mailboxes WHERE account_id = ? AND id = ?",
		account, mailbox).Scan(&mb.uidValidity, &mb.uidNext, &mb.hms)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNoMailbox
	}
	if err != nil {
		return nil, dbErr("append", err)
	}
	if st.mailboxes == nil {
		st.mailboxes = make(map[mailboxKey]*appendMailbox)
	}
	st.mailboxes[k] = mb
	return mb, nil
}

func (st *appendState) account(w *wtx, account store.AccountID) (*appendAccount, error) {
	if a, ok := st.accounts[account]; ok {
		return a, nil
	}
	a := &appendAccount{}
	err := w.queryRow("SELECT quota_bytes, quota_messages, used_bytes, used_messages FROM accounts WHERE id = ?", account).
		Scan(&a.quotaBytes, &a.quotaMessages, &a.usedBytes, &a.usedMessages)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNoAccount
	}
	if err != nil {
		return nil, dbErr("quota", err)
	}
	if st.accounts == nil {
		st.accounts = make(map[store.AccountID]*appendAccount)
	}
	st.accounts[account] = a
	return a, nil
}

// flush writes the cached counters back; the job fails if it cannot.
func (st *appendState) flush(w *wtx) error {
	for k, mb := range st.mailboxes {
		if !mb.dirty {
			continue
		}
		if _, err := w.exec("UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE account_id = ? AND id = ?",
			mb.uidNext, mb.hms, k.account, k.mailbox); err != nil {
			return dbErr("append", err)
		}
	}
	for id, a := range st.accounts {
		if a.addN == 0 {
			continue
		}
		if err := w.addUsage(id, a.addN, a.addB); err != nil {
			return err
		}
	}
	return nil
}

// maxThreadRefs bounds how many Message-IDs of one message take part in
// threading (a hostile References field could list thousands).
const maxThreadRefs = 64

// threadID finds the RFC 8474 THREADID of a new message: the thread of any
// message it refers to (References, In-Reply-To) or that referred to it
// before it arrived (its own Message-ID), else a new one. Every id the
// message mentions is then mapped to the thread, so later replies and
// earlier-referenced parents join it.
func (w *wtx) threadID(account store.AccountID, h *message.Headers) (string, error) {
	ids := make([]string, 0, len(h.References)+2)
	add := func(id string) {
		id = strings.TrimSpace(id)
		if len(id) < 3 || len(id) > 500 || len(ids) >= maxThreadRefs {
			return
		}
		for _, x := range ids {
			if x == id {
				return
			}
		}
		ids = append(ids, id)
	}
	if h.MessageID != "" {
		add(h.MessageID)
	}
	for i := len(h.References) - 1; i >= 0; i-- { // nearest ancestors first
		add(h.References[i])
	}
	for _, id := range msgIDs(h.InReplyTo) {
		add(id)
	}
	thread := ""
	for _, id := range ids {
		err := w.queryRow("SELECT threadid FROM threads WHERE account_id = ? AND message_id = ?", account, id).Scan(&thread)
		if err == nil {
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", dbErr("thread", err)
		}
	}
	if thread == "" {
		thread = newObjectID('T')
	}
	for _, id := range ids {
		if _, err := w.exec("INSERT OR IGNORE INTO threads(account_id, message_id, threadid) VALUES (?, ?, ?)", account, id, thread); err != nil {
			return "", dbErr("thread", err)
		}
	}
	return thread, nil
}

// msgIDs extracts the <…> tokens of a field value.
func msgIDs(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return out
		}
		out = append(out, s[i:i+j+1])
		s = s[i+j+1:]
	}
}
