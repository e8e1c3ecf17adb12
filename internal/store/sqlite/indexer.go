package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/postern/postern/internal/message"
)

// The full-text index (text_fts, FTS5 with the trigram tokenizer) holds
// the decoded text of each blob once, however many messages share it.
// blob_text maps blob ids to FTS rowids. The indexer goroutine fills it
// behind delivery, so Append never waits for text decoding; SearchText
// scans the blobs that are not indexed yet, so results never depend on the
// indexer having caught up.
//
// Progress is kept in meta 'fts_upto': the highest messages.id looked at.
// Several processes may index at once; blob_text's unique key makes a
// second indexing of a blob a no-op.

// indexBatch is how many message rows one indexing round looks at;
// indexDelay is how long the indexer waits after being kicked, and how
// long deliveries must have paused before it starts; indexMaxDefer bounds
// that wait under steady delivery. indexMaxText bounds the decoded text
// one round holds in memory. One write job inserts at most indexChunkDocs
// documents or indexChunkText octets of text, so a delivery that arrives
// while the writer indexes waits for little.
const (
	indexBatch     = 256
	indexDelay     = 500 * time.Millisecond
	indexMaxDefer  = 10 * time.Second
	indexMaxText   = 16 << 20
	indexChunkDocs = 8
	indexChunkText = 256 << 10
)

// indexer runs indexing rounds when kicked (after commits that added
// messages) and every few seconds, until the DB is closed.
func (db *DB) indexer() {
	defer db.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-db.ctx.Done():
			return
		case <-db.indexKick:
			// Index in the pauses between deliveries (they come first;
			// SearchText scans what is not indexed yet), but never defer
			// for more than indexMaxDefer.
			if !db.waitDeliveryPause() {
				return
			}
		case <-t.C:
			if time.Since(time.Unix(0, db.lastAppend.Load())) < indexDelay && !db.waitDeliveryPause() {
				return
			}
		}
		for {
			// A round started because deliveries never paused for
			// indexMaxDefer runs whole; otherwise new deliveries stop it
			// after its current chunk. Under steady delivery the index
			// must still gain on the backlog.
			forced := time.Since(time.Unix(0, db.lastAppend.Load())) < indexDelay
			if err := db.dropGoneText(db.ctx, !forced); err != nil {
				if db.ctx.Err() == nil && !errors.Is(err, ErrClosed) {
					db.log.Warn("store: text index", "err", err)
				}
				break
			}
			n, err := db.indexRound(db.ctx, !forced)
			if err != nil {
				if db.ctx.Err() == nil && !errors.Is(err, ErrClosed) {
					db.log.Warn("store: text index", "err", err)
				}
				break
			}
			if n < indexBatch {
				break
			}
			// A long backlog (a fresh import) is worked off in the
			// pauses too: appends that arrived during the last round
			// go first again.
			if time.Since(time.Unix(0, db.lastAppend.Load())) < indexDelay && !db.waitDeliveryPause() {
				return
			}
		}
	}
}

// waitDeliveryPause waits until no append has committed for indexDelay,
// at most indexMaxDefer; false when the DB is closing.
func (db *DB) waitDeliveryPause() bool {
	deadline := time.Now().Add(indexMaxDefer)
	for {
		select {
		case <-db.ctx.Done():
			return false
		case <-time.After(indexDelay):
		}
		last := time.Unix(0, db.lastAppend.Load())
		if time.Since(last) >= indexDelay || time.Now().After(deadline) {
			return true
		}
	}
}

// kickIndexer wakes the indexer without blocking.
func (db *DB) kickIndexer() {
	select {
	case db.indexKick <- struct{}{}:
	default:
	}
}

// textGoneChunk is how many queued texts one write job removes (each
// takes the FTS index about half a millisecond).
const textGoneChunk = 16

// dropGoneText removes the full-text index rows queued in text_gone (by
// expunges, see queueTextDrop) of blobs that no message references,
// in small low-priority jobs; a blob referenced again meanwhile (the same
// message delivered anew) keeps its rows. With yield it stops when an
// append has come in recently.
func (db *DB) dropGoneText(ctx context.Context, yield bool) error {
	for {
		if yield && time.Since(time.Unix(0, db.lastAppend.Load())) < indexDelay {
			return nil
		}
		rows, err := db.rdb.QueryContext(ctx, "SELECT id FROM text_gone LIMIT ?", textGoneChunk)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		err = db.writeIdle(ctx, func(w *wtx) error {
			for _, id := range ids {
				var blobID string
				err := w.queryRow("SELECT blob_id FROM blob_text WHERE id = ?", id).Scan(&blobID)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				if err == nil {
					var used bool
					if err := w.queryRow("SELECT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?)", blobID).Scan(&used); err != nil {
						return err
					}
					if !used {
						if err := w.dropBlobText(blobID); err != nil {
							return err
						}
						continue
					}
				}
				if _, err := w.exec("DELETE FROM text_gone WHERE id = ?", id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// indexDoc is one blob's text ready to be written.
type indexDoc struct {
	blobID       string
	header, body string
}

// indexRound indexes the blobs of up to indexBatch message rows past the
// progress mark and returns how many rows it looked at. With yield, it
// stops after a chunk when an append has come in meanwhile, reporting a
// full batch.
func (db *DB) indexRound(ctx context.Context, yield bool) (int, error) {
	var upto int64
	err := db.rdb.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'fts_upto'").Scan(&upto)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT m.id, m.blob_id, mm.structure, mm.headers,
			EXISTS (SELECT 1 FROM blob_text b WHERE b.blob_id = m.blob_id)
		FROM messages m LEFT JOIN message_meta mm ON mm.id = m.id WHERE m.id > ? ORDER BY m.id LIMIT ?`, upto, indexBatch)
	if err != nil {
		return 0, err
	}
	type cand struct {
		rowID              int64
		blobID             string
		structure, headers []byte
		done               bool
	}
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.rowID, &c.blobID, &c.structure, &c.headers, &c.done); err != nil {
			rows.Close()
			return 0, err
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(cands) == 0 {
		return 0, nil
	}
	// Decode until the batch holds indexMaxText of text; the rest waits
	// for the next round.
	var docs []indexDoc
	seen := map[string]bool{}
	last, total, n := upto, 0, 0
	for _, c := range cands {
		if total >= indexMaxText {
			break
		}
		last, n = c.rowID, n+1
		if c.done || seen[c.blobID] {
			continue
		}
		seen[c.blobID] = true
		if doc, ok := db.extractText(c.blobID, c.structure, c.headers); ok {
			docs = append(docs, doc)
			total += len(doc.header) + len(doc.body)
		}
	}
	if total >= indexMaxText {
		n = indexBatch // cut short: tell the caller there is more
	}
	// Write in small low-priority jobs (see indexChunkDocs); the progress
	// mark moves with the last one. Should a later chunk fail, or the
	// round stop for deliveries, the next round redoes the earlier ones as
	// no-ops (blob_text's unique key).
	for first := true; ; first = false {
		if yield && !first && time.Since(time.Unix(0, db.lastAppend.Load())) < indexDelay {
			// Deliveries came in meanwhile (this process's jobs go first
			// in the writer anyway; another process's, such as postern
			// import, would wait for the file lock between chunks): stop
			// here and let the caller wait for a pause.
			return indexBatch, nil
		}
		k, text := 0, 0
		for k < len(docs) && k < indexChunkDocs && (k == 0 || text < indexChunkText) {
			text += len(docs[k].header) + len(docs[k].body)
			k++
		}
		chunk, final := docs[:k], k == len(docs)
		err := db.writeIdle(ctx, func(w *wtx) error {
			if err := w.indexDocs(chunk); err != nil || !final {
				return err
			}
			_, err := w.exec(`INSERT INTO meta(key, value) VALUES ('fts_upto', ?)
				ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)`, last)
			return err
		})
		if err != nil || final {
			return n, err
		}
		docs = docs[k:]
	}
}

// indexDocs adds documents to the text index (writer side).
func (w *wtx) indexDocs(docs []indexDoc) error {
	for _, d := range docs {
		// The text was read outside this transaction: a blob whose last
		// message was expunged since must not be indexed (nothing would
		// remove its rows again).
		var used bool
		if err := w.queryRow("SELECT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?)", d.blobID).Scan(&used); err != nil {
			return err
		}
		if !used {
			continue
		}
		res, err := w.exec("INSERT OR IGNORE INTO blob_text(blob_id) VALUES (?)", d.blobID)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			continue // indexed meanwhile (another process)
		}
		rowid, _ := res.LastInsertId()
		if _, err := w.exec("INSERT INTO text_fts(rowid, header, body) VALUES (?, ?, ?)", rowid, d.header, d.body); err != nil {
			return err
		}
	}
	return nil
}

// extractText decodes one blob's searchable text. A blob that cannot be
// read is skipped (left to the scanning search, which will log it).
func (db *DB) extractText(blobID string, structure, headers []byte) (indexDoc, bool) {
	var root message.Part
	var h message.Headers
	if len(structure) == 0 || json.Unmarshal(structure, &root) != nil {
		return indexDoc{}, false
	}
	if len(headers) > 0 {
		decodeHeaders(headers, &h, nil)
	}
	f, err := db.OpenBody(db.ctx, blobID)
	if err != nil {
		return indexDoc{}, false
	}
	defer f.Close()
	header, body, err := messageText(&root, &h, f, true)
	if err != nil {
		return indexDoc{}, false
	}
	return indexDoc{blobID: blobID, header: header, body: body}, true
}

// indexNow runs indexing rounds until the index has caught up (tests,
// import tools).
func (db *DB) indexNow(ctx context.Context) error {
	for {
		n, err := db.indexRound(ctx, false)
		if err != nil || n < indexBatch {
			return err
		}
	}
}
