package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// undoTextGone takes a database of schema 9 back to schema 8.
func undoTextGone(t testing.TB, raw *sql.DB) {
	t.Helper()
	for _, q := range []string{"DROP TABLE text_gone", "PRAGMA user_version = 8"} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// undoMetaTable takes a database of schema 9 back to schema 7 (through
// undoTextGone): the parsed metadata goes back into the messages rows and
// message_meta goes.
func undoMetaTable(t testing.TB, raw *sql.DB) {
	t.Helper()
	undoTextGone(t, raw)
	qs := []string{
		"PRAGMA foreign_keys = OFF",
		"ALTER TABLE messages ADD COLUMN envelope BLOB",
		"ALTER TABLE messages ADD COLUMN body BLOB",
		"ALTER TABLE messages ADD COLUMN bodystructure BLOB",
		"ALTER TABLE messages ADD COLUMN structure BLOB",
		"ALTER TABLE messages ADD COLUMN headers BLOB",
		"ALTER TABLE messages ADD COLUMN preview TEXT NOT NULL DEFAULT ''",
		`UPDATE messages SET (envelope, body, bodystructure, structure, headers, preview) =
			(SELECT envelope, body, bodystructure, structure, headers, preview FROM message_meta mm WHERE mm.id = messages.id)`,
		"DROP TABLE message_meta",
		"PRAGMA user_version = 7",
	}
	for _, q := range qs {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMetaTableMigration: messages stored while the parsed metadata was
// inline (schema 7) read back the same after step 8 moves it, copies
// included, and expunging a message removes its metadata row.
func TestMetaTableMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := openTest(t, dir)
	a, inbox := mustAccount(t, db, "old")
	other, err := db.CreateMailbox(ctx, a.ID, "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	uids := []store.UID{
		deliver(t, db, a.ID, inbox.ID, "From: A <a@example.org>\r\nSubject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst body\r\n").UID,
		deliver(t, db, a.ID, inbox.ID, "From: B <b@example.org>\r\nSubject: two\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\npart one\r\n"+
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n").UID,
	}
	if _, _, _, err := db.Copy(ctx, a.ID, inbox.ID, uids[1:], other.ID); err != nil {
		t.Fatal(err)
	}
	all := store.FetchOptions{Envelope: true, BodyStructure: true, Structure: true, Headers: true, Preview: true}
	snapshot := func(mb store.MailboxID) []*store.Message {
		var out []*store.Message
		err := db.Fetch(ctx, a.ID, mb, []store.UID{1, 2, 3}, all, func(m *store.Message) error {
			out = append(out, m)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before, beforeCopy := snapshot(inbox.ID), snapshot(other.ID)
	if len(before) != 2 || len(beforeCopy) != 1 || len(before[1].EnvelopeIMAP) == 0 || before[1].Structure == nil || before[0].Preview == "" {
		t.Fatalf("fixture: %d and %d messages, %+v", len(before), len(beforeCopy), before)
	}
	db.Close()

	raw, err := sql.Open("sqlite", filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	undoMetaTable(t, raw)
	raw.Close()

	db = openTest(t, dir)
	after, afterCopy := snapshot(inbox.ID), snapshot(other.ID)
	same := func(x, y []*store.Message) {
		t.Helper()
		if len(x) != len(y) {
			t.Fatalf("%d messages after the migration, %d before", len(y), len(x))
		}
		for i := range x {
			p, q := x[i], y[i]
			if !bytes.Equal(p.EnvelopeIMAP, q.EnvelopeIMAP) || !bytes.Equal(p.BodyStructureIMAP, q.BodyStructureIMAP) ||
				!bytes.Equal(p.BodyIMAP, q.BodyIMAP) || p.Preview != q.Preview ||
				!reflect.DeepEqual(p.Structure, q.Structure) || p.Headers.Subject != q.Headers.Subject || p.Headers.MessageID != q.Headers.MessageID {
				t.Errorf("message %d differs after the migration:\nbefore %+v\nafter  %+v", p.UID, p, q)
			}
		}
	}
	same(before, after)
	same(beforeCopy, afterCopy)

	// Rows from before step 8 do not know their To (NULL): SEARCH TO
	// must read them all; a message delivered now is narrowed.
	fresh := deliver(t, db, a.ID, inbox.ID, "From: C <c@example.org>\r\nTo: D <d@example.org>\r\nSubject: new\r\n\r\nx\r\n").UID
	for needle, want := range map[string][]store.UID{"nobody": uids, "d@example": append(slices.Clone(uids), fresh)} {
		got, ok, err := db.HeaderCandidates(ctx, a.ID, inbox.ID, "to", needle)
		if err != nil || !ok || !slices.Equal(got, want) {
			t.Errorf("TO %q candidates %v (ok %v, %v), want %v", needle, got, ok, err, want)
		}
	}
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, []store.UID{fresh}); err != nil {
		t.Fatal(err)
	}

	// The copy's metadata is its own row: expunging the original leaves it.
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, uids[1:]); err != nil {
		t.Fatal(err)
	}
	same(beforeCopy, snapshot(other.ID))
	var metaRows, msgRows int
	if err := db.rdb.QueryRow("SELECT count(*) FROM message_meta").Scan(&metaRows); err != nil {
		t.Fatal(err)
	}
	if err := db.rdb.QueryRow("SELECT count(*) FROM messages").Scan(&msgRows); err != nil {
		t.Fatal(err)
	}
	if metaRows != msgRows || msgRows != 2 {
		t.Fatalf("after expunge: %d messages, %d metadata rows; want 2 and 2", msgRows, metaRows)
	}
	if err := db.DeleteMailbox(ctx, a.ID, "Other"); err != nil {
		t.Fatal(err)
	}
	if err := db.rdb.QueryRow("SELECT count(*) FROM message_meta").Scan(&metaRows); err != nil {
		t.Fatal(err)
	}
	if metaRows != 1 {
		t.Fatalf("after deleting a mailbox: %d metadata rows, want 1", metaRows)
	}
	mustClean(t, db)
	// Check reports a message whose metadata row is gone.
	if err := db.write(ctx, func(w *wtx) error {
		_, err := w.exec("DELETE FROM message_meta")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := db.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "1 messages have no parsed metadata") {
		t.Fatalf("check problems %q, want one about the missing metadata", rep.Problems)
	}
}

// TestUpdateFlagsRanges: STORE turns runs of neighbouring messages into
// UPDATEs over UID ranges. Against a model applied message by message,
// with gaps from expunges, requests that skip messages, several flag
// states and UNCHANGEDSINCE, every message ends with the flags and
// MODSEQ the model says, including those not asked for.
func TestUpdateFlagsRanges(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "")
	a, inbox := mustAccount(t, db, "ranges")
	const n = 2500 // more than one span of uidChunk
	if err := bulkAppend(db, a.ID, inbox.ID, n); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	var gone []store.UID
	for u := 1; u <= n; u++ {
		if rng.IntN(5) == 0 {
			gone = append(gone, store.UID(u))
		}
	}
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	type state struct {
		flags  []string
		modseq uint64
	}
	model := map[store.UID]*state{}
	var existing []store.UID
	err := db.Fetch(ctx, a.ID, inbox.ID, refUIDs(t, db, a.ID, inbox.ID), store.FetchOptions{}, func(m *store.Message) error {
		model[m.UID] = &state{flags: m.Flags, modseq: m.ModSeq}
		existing = append(existing, m.UID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{store.FlagFlagged, store.FlagSeen, store.FlagDeleted, "$Work"}
	for round := range 60 {
		// The request: a range, a random subset of a range, or scattered
		// UIDs, sometimes with UIDs that do not exist.
		lo := store.UID(1 + rng.IntN(n))
		hi := min(lo+store.UID(rng.IntN(1500)), n+10)
		var req []store.UID
		switch rng.IntN(3) {
		case 0:
			for u := lo; u <= hi; u++ {
				req = append(req, u)
			}
		case 1:
			for u := lo; u <= hi; u++ {
				if rng.IntN(4) != 0 {
					req = append(req, u)
				}
			}
		default:
			for range 1 + rng.IntN(40) {
				req = append(req, store.UID(1+rng.IntN(n)))
			}
		}
		op := store.FlagOp(rng.IntN(3))
		flags := []string{names[rng.IntN(len(names))]}
		if rng.IntN(3) == 0 {
			flags = append(flags, names[rng.IntN(len(names))])
		}
		var since uint64
		if rng.IntN(4) == 0 {
			since = model[existing[rng.IntN(len(existing))]].modseq
		}
		mb, err := db.Mailbox(ctx, a.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		next := mb.HighestModSeq + 1
		wantUpdated, wantFailed := map[store.UID]bool{}, map[store.UID]bool{}
		for _, u := range slices.Compact(slices.Sorted(slices.Values(req))) {
			s := model[u]
			if s == nil {
				continue
			}
			if since > 0 && s.modseq > since {
				wantFailed[u] = true
				continue
			}
			if nf := applyFlags(s.flags, op, normFlags(flags)); !sameFlags(nf, s.flags) {
				s.flags, s.modseq = nf, next
				wantUpdated[u] = true
			}
		}
		updated, failed, err := db.UpdateFlags(ctx, a.ID, inbox.ID, req, op, flags, since)
		if err != nil {
			t.Fatal(err)
		}
		if len(updated) != len(wantUpdated) || len(failed) != len(wantFailed) {
			t.Fatalf("round %d: %d updated, %d failed; model %d and %d", round, len(updated), len(failed), len(wantUpdated), len(wantFailed))
		}
		for _, up := range updated {
			if !wantUpdated[up.UID] || !sameFlags(up.Flags, model[up.UID].flags) {
				t.Fatalf("round %d: UID %d reported %v, model %v (updated %v)", round, up.UID, up.Flags, model[up.UID].flags, wantUpdated[up.UID])
			}
		}
		err = db.Fetch(ctx, a.ID, inbox.ID, existing, store.FetchOptions{}, func(m *store.Message) error {
			s := model[m.UID]
			if !sameFlags(m.Flags, s.flags) || m.ModSeq != s.modseq {
				return fmt.Errorf("round %d: UID %d has %v modseq %d, model %v modseq %d", round, m.UID, m.Flags, m.ModSeq, s.flags, s.modseq)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mustClean(t, db)
}

// TestIndexRoundYieldsToDeliveries: a round of the text indexer writes
// its first chunk, then stops while deliveries are coming in (here or in
// another process, see TestCrossProcessEvents); a round forced by
// deliveries that never pause (yield false) does its whole batch, so the
// index still gains under steady delivery.
func TestIndexRoundYieldsToDeliveries(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "idx")
	const n = 3*indexChunkDocs + 1
	for i := range n {
		deliver(t, db, a.ID, inbox.ID, testMessage(fmt.Sprintf("<%d@idx>", i), fmt.Sprintf("subject %d", i), fmt.Sprintf("body %d", i)))
	}
	indexed := func() int {
		var k int
		if err := db.rdb.QueryRow("SELECT count(*) FROM blob_text").Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	// Deliveries are recent (and kept so: the background indexer, too,
	// waits for a pause, up to indexMaxDefer).
	db.lastAppend.Store(time.Now().UnixNano())
	got, err := db.indexRound(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if k := indexed(); got != indexBatch || k != indexChunkDocs {
		t.Fatalf("during deliveries: round returned %d with %d documents indexed, want %d and %d", got, k, indexBatch, indexChunkDocs)
	}
	db.lastAppend.Store(time.Now().UnixNano())
	if _, err := db.indexRound(ctx, false); err != nil {
		t.Fatal(err)
	}
	if k := indexed(); k != n {
		t.Fatalf("a forced round: %d documents indexed, want %d", k, n)
	}
}
