package sqlite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// openInline opens a store whose bodies up to max octets are inline.
func openInline(t *testing.T, max int64) *DB {
	t.Helper()
	db, err := Open(context.Background(), t.TempDir(), Options{Logger: quietLogger(), PollInterval: 20 * time.Millisecond, InlineMax: max})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// countBodies counts the rows of the bodies table.
func countBodies(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.rdb.QueryRow("SELECT count(*) FROM bodies").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// messageOfSize is a message of exactly size octets (after CRLF
// normalization), distinct per tag.
func messageOfSize(tag string, size int) string {
	head := "Subject: " + tag + "\r\nMessage-ID: <" + tag + "@x>\r\n\r\n"
	return head + strings.Repeat("b", size-len(head))
}

// TestInlineThreshold: a body of at most InlineMax octets is staged in
// memory and stored in the database by Append, one octet more goes to a
// blob file; both read back byte for byte, ReadAt included.
func TestInlineThreshold(t *testing.T) {
	const max = 2048
	db := openInline(t, max)
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "ivy")
	for _, tc := range []struct {
		size   int
		inline bool
	}{{max, true}, {max + 1, false}, {100, true}, {5 * max, false}} {
		raw := messageOfSize("m"+strings.Repeat("x", tc.size%7)+string(rune('a'+tc.size%26)), tc.size)
		st, err := db.Stage(ctx, strings.NewReader(raw), 0)
		if err != nil {
			t.Fatal(err)
		}
		if (st.Inline != nil) != tc.inline || st.Size != int64(tc.size) {
			t.Fatalf("size %d: inline %v, size %d", tc.size, st.Inline != nil, st.Size)
		}
		filesBefore, bodiesBefore := countBlobs(t, db), countBodies(t, db)
		res, err := db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("append: %v %v", err, res[0].Err)
		}
		files, bodies := countBlobs(t, db)-filesBefore, countBodies(t, db)-bodiesBefore
		if tc.inline && (files != 0 || bodies != 1) || !tc.inline && (files != 0 || bodies != 0) {
			// A file-backed body was written by Stage, before Append.
			t.Fatalf("size %d: %d new files, %d new bodies during Append", tc.size, files, bodies)
		}
		m := fetchOne(t, db, a.ID, inbox.ID, res[0].UID)
		body, err := db.OpenBody(ctx, m.BlobID)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(body)
		part := make([]byte, 10)
		n, err := body.ReadAt(part, int64(tc.size-10))
		body.Close()
		if string(got) != raw || body.Size() != int64(tc.size) || n != 10 || err != nil && err != io.EOF || string(part) != raw[tc.size-10:] {
			t.Fatalf("size %d: read %d octets (Size %d), ReadAt %d %v", tc.size, len(got), body.Size(), n, err)
		}
	}
	if countBlobs(t, db) != 2 || countBodies(t, db) != 2 {
		t.Fatalf("%d files, %d inline bodies; want 2 and 2", countBlobs(t, db), countBodies(t, db))
	}
	mustClean(t, db)

	// The caller's limit below InlineMax still applies.
	if _, err := db.Stage(ctx, strings.NewReader(messageOfSize("big", 1000)), 999); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("over the caller's limit: %v", err)
	}
	// A staged inline message never appended leaves nothing behind.
	if _, err := db.Stage(ctx, strings.NewReader(messageOfSize("never", 500)), 0); err != nil {
		t.Fatal(err)
	}
	if countBlobs(t, db) != 2 || countBodies(t, db) != 2 {
		t.Fatal("a staged but not appended inline message left a body")
	}
}

// TestInlineBodyLifetime: one row per distinct body, shared by copies and
// redeliveries; it goes with the last message that references it, by
// expunge, mailbox deletion or account deletion, and never earlier.
func TestInlineBodyLifetime(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "lee")
	b, binbox := mustAccount(t, db, "max")
	shared := testMessage("<shared@x>", "s", "same bytes everywhere")
	r1 := deliver(t, db, a.ID, inbox.ID, shared)
	r2 := deliver(t, db, a.ID, inbox.ID, shared)
	deliver(t, db, b.ID, binbox.ID, shared)
	only := deliver(t, db, a.ID, inbox.ID, testMessage("<only@x>", "s", "mine alone"))
	if n := countBodies(t, db); n != 2 {
		t.Fatalf("%d bodies for 2 distinct messages", n)
	}
	archive, err := db.CreateMailbox(ctx, a.ID, "Old", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.Move(ctx, a.ID, inbox.ID, []store.UID{only.UID}, archive.ID); err != nil {
		t.Fatal(err)
	}
	if n := countBodies(t, db); n != 2 {
		t.Fatalf("MOVE dropped a body: %d left", n)
	}
	moved := refUIDs(t, db, a.ID, archive.ID)
	m := fetchOne(t, db, a.ID, archive.ID, moved[0])
	if body, err := db.OpenBody(ctx, m.BlobID); err != nil {
		t.Fatalf("moved message unreadable: %v", err)
	} else {
		body.Close()
	}
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, []store.UID{r1.UID, r2.UID}); err != nil {
		t.Fatal(err)
	}
	if n := countBodies(t, db); n != 2 {
		t.Fatalf("expunge dropped a body still used by another account: %d left", n)
	}
	if err := db.DeleteMailbox(ctx, a.ID, "Old"); err != nil {
		t.Fatal(err)
	}
	if n := countBodies(t, db); n != 1 {
		t.Fatalf("deleting the mailbox left %d bodies, want 1", n)
	}
	if _, _, _, err := db.Copy(ctx, b.ID, binbox.ID, refUIDs(t, db, b.ID, binbox.ID), binbox.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAccount(ctx, "max"); err != nil {
		t.Fatal(err)
	}
	if n := countBodies(t, db); n != 0 {
		t.Fatalf("deleting the last account left %d bodies", n)
	}
	mustClean(t, db)
}

// TestCheckInlineBodies: Check reports a corrupt inline body and an
// unreferenced one, and repair removes the latter.
func TestCheckInlineBodies(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "kim")
	r := deliver(t, db, a.ID, inbox.ID, testMessage("<k@x>", "s", "kept"))
	m := fetchOne(t, db, a.ID, inbox.ID, r.UID)
	orphan := strings.Repeat("ab", 32)
	err := db.write(ctx, func(w *wtx) error {
		if _, err := w.exec("UPDATE bodies SET data = ? WHERE id = ?", bytes.Repeat([]byte("z"), int(m.Size)), m.BlobID); err != nil {
			return err
		}
		_, err := w.exec("INSERT INTO bodies(id, data) VALUES (?, ?)", orphan, []byte("nobody"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := db.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{m.BlobID + " is corrupt", orphan + " is not referenced"} {
		if !anyContains(rep.Problems, w) {
			t.Errorf("problem %q not reported in %q", w, rep.Problems)
		}
	}
	if rep, err = db.Check(ctx, true); err != nil || !anyContains(rep.Repaired, orphan) {
		t.Fatalf("repair: %v %q", err, rep.Repaired)
	}
	if n := countBodies(t, db); n != 1 {
		t.Fatalf("%d bodies after repair, want 1", n)
	}
}
