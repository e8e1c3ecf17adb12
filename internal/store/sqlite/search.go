package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"unicode/utf8"

	"github.com/postern/postern/internal/store"
)

// SearchText finds the messages among uids whose text contains every
// needle, case-insensitively (IMAP BODY and TEXT, RFC 9051 §6.4.4). Text
// means the decoded body (transfer encoding and charset undone, HTML
// without markup), so it matches what a user reads, not encoded octets.
//
// When every needle has at least three characters, messages whose blob is
// in the FTS5 trigram index are answered from it (trigram phrases match
// substrings); other messages, and all of them for shorter needles, are
// answered by decoding their bodies. Copies of one blob are decoded once
// per call.
func (db *DB) SearchText(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, needles []string, withHeaders bool) ([]store.UID, error) {
	if _, err := db.MailboxByID(ctx, account, mailbox); err != nil {
		return nil, err
	}
	folded := make([]string, 0, len(needles))
	useFTS := true
	for _, n := range needles {
		if n == "" {
			continue
		}
		folded = append(folded, strings.ToLower(n))
		if utf8.RuneCountInString(n) < 3 {
			useFTS = false
		}
	}
	var matched map[int64]bool
	if useFTS && len(folded) > 0 {
		var err error
		if matched, err = db.ftsMatches(ctx, account, mailbox, folded, withHeaders); err != nil {
			return nil, err
		}
	}
	var out, scan []store.UID
	for _, span := range uidSpans(uids) {
		where, args := span.where()
		rows, err := db.rquery(ctx, `SELECT m.uid, b.id FROM messages m LEFT JOIN blob_text b ON b.blob_id = m.blob_id
			WHERE m.account_id = ? AND m.mailbox_id = ? AND m.`+where+` ORDER BY m.uid`, append([]any{account, mailbox}, args...)...)
		if err != nil {
			return nil, dbErr("search", err)
		}
		filter := uidFilter{want: span.want}
		for rows.Next() {
			var uid store.UID
			var rowid sql.NullInt64
			if err := rows.Scan(&uid, &rowid); err != nil {
				rows.Close()
				return nil, dbErr("search", err)
			}
			switch {
			case span.dense && !filter.ok(uid):
			case len(folded) == 0:
				out = append(out, uid)
			case matched != nil && rowid.Valid:
				if matched[rowid.Int64] {
					out = append(out, uid)
				}
			default:
				scan = append(scan, uid)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, dbErr("search", err)
		}
	}
	if len(scan) == 0 {
		return out, nil
	}
	found, err := db.scanText(ctx, account, mailbox, scan, folded, withHeaders)
	if err != nil {
		return nil, err
	}
	return mergeUIDs(out, found), nil
}

// ftsMatches returns the FTS rowids (blob_text ids) of this mailbox's
// blobs whose text holds every needle.
func (db *DB) ftsMatches(ctx context.Context, account store.AccountID, mailbox store.MailboxID, folded []string, withHeaders bool) (map[int64]bool, error) {
	cols := "body"
	if withHeaders {
		cols = "{header body}"
	}
	var expr strings.Builder
	for i, n := range folded {
		if i > 0 {
			expr.WriteString(" AND ")
		}
		expr.WriteString(cols + ` : "` + strings.ReplaceAll(n, `"`, `""`) + `"`)
	}
	// "+rowid" keeps the mailbox filter away from FTS5's xBestIndex: as a
	// constraint it would rerun the MATCH once per rowid of the list.
	rows, err := db.rdb.QueryContext(ctx, `SELECT rowid FROM text_fts WHERE text_fts MATCH ? AND +rowid IN
		(SELECT b.id FROM messages m JOIN blob_text b ON b.blob_id = m.blob_id WHERE m.account_id = ? AND m.mailbox_id = ?)`,
		expr.String(), account, mailbox)
	if err != nil {
		return nil, dbErr("search index", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr("search index", err)
		}
		out[id] = true
	}
	return out, dbErr("search index", rows.Err())
}

// scanText decodes the bodies of uids and checks the needles.
func (db *DB) scanText(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uids []store.UID, folded []string, withHeaders bool) ([]store.UID, error) {
	var out []store.UID
	seen := map[string]bool{} // blob id → matched
	err := db.Fetch(ctx, account, mailbox, uids, store.FetchOptions{Structure: true, Headers: withHeaders}, func(m *store.Message) error {
		match, ok := seen[m.BlobID]
		if !ok {
			var err error
			if match, err = db.blobMatches(m, withHeaders, folded); err != nil {
				return err
			}
			seen[m.BlobID] = match
		}
		if match {
			out = append(out, m.UID)
		}
		return ctx.Err()
	})
	return out, err
}

// blobMatches decodes one message's text and checks every needle.
func (db *DB) blobMatches(m *store.Message, withHeaders bool, folded []string) (bool, error) {
	f, err := db.OpenBody(db.ctx, m.BlobID)
	if err != nil {
		db.log.Warn("store: search: body missing", "blob", m.BlobID, "err", err)
		return false, nil
	}
	defer f.Close()
	header, body, err := messageText(m.Structure, &m.Headers, f, withHeaders)
	if err != nil {
		return false, dbErr("search", err)
	}
	text := strings.ToLower(body)
	if withHeaders {
		text = strings.ToLower(header) + "\n" + text
	}
	for _, n := range folded {
		if !strings.Contains(text, n) {
			return false, nil
		}
	}
	return true, nil
}

// mergeUIDs merges two sorted UID lists.
func mergeUIDs(a, b []store.UID) []store.UID {
	out := make([]store.UID, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || i < len(a) && a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

// HeaderCandidates narrows FROM, SUBJECT, TO, CC and BCC searches to the
// rows whose hdr_* column (the decoded field, as the IMAP server matches
// it) could contain needle. For an ASCII needle, LIKE (which folds ASCII
// case only) decides exactly for rows that are all ASCII; every row with
// another character is a candidate too, since Unicode lower-casing can
// turn some of them into ASCII letters (KELVIN SIGN into k), and so is
// every row stored before its column existed (NULL). The caller checks
// the candidates with its own matching.
func (db *DB) HeaderCandidates(ctx context.Context, account store.AccountID, mailbox store.MailboxID, field, needle string) ([]store.UID, bool, error) {
	var col, from string
	switch field {
	case "from", "subject":
		col, from = "m.hdr_"+field, "messages m"
	case "to", "cc", "bcc":
		col, from = "mm.hdr_"+field, "messages m JOIN message_meta mm ON mm.id = m.id"
	default:
		return nil, false, nil
	}
	if needle == "" {
		return nil, false, nil
	}
	for i := 0; i < len(needle); i++ {
		if needle[i] >= utf8.RuneSelf || needle[i] < 0x20 {
			return nil, false, nil
		}
	}
	pattern := "%" + likeEscaper.Replace(needle) + "%"
	rows, err := db.rdb.QueryContext(ctx, `SELECT m.uid FROM `+from+` WHERE m.account_id = ? AND m.mailbox_id = ?
		AND (`+col+` LIKE ? ESCAPE '\' OR length(`+col+`) != octet_length(`+col+`) OR `+col+` IS NULL) ORDER BY m.uid`, account, mailbox, pattern)
	if err != nil {
		return nil, false, dbErr("search", err)
	}
	defer rows.Close()
	var out []store.UID
	for rows.Next() {
		var uid store.UID
		if err := rows.Scan(&uid); err != nil {
			return nil, false, dbErr("search", err)
		}
		out = append(out, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, false, dbErr("search", err)
	}
	return out, true, nil
}

// likeEscaper escapes LIKE's wildcards and its escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
