package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/postern/postern/internal/store"
)

// TestLineEndPad: Stage records what completes a message's last line, on
// the inline path and the blob-file path (fed one octet per Read), Fetch
// returns it and COPY keeps it.
func TestLineEndPad(t *testing.T) {
	head := "Subject: pad\r\nMessage-ID: <pad@x>\r\n\r\n"
	cases := []struct {
		name, raw string
		size      int
		pad       int8
	}{
		{"crlf", head + "body\r\n", len(head) + 6, 0},
		{"no line end", head + "body", len(head) + 4, 2},
		{"lone CR", head + "body\r", len(head) + 5, 1},
		{"bare LF", head + "body\n", len(head) + 6, 0}, // stored as CRLF
		{"empty", "", 0, 0},
		{"one octet", "x", 1, 2},
	}
	for _, files := range []bool{false, true} {
		db := openTest(t, "")
		if files {
			db = openFileBlobs(t)
		}
		ctx := context.Background()
		a, inbox := mustAccount(t, db, "pad")
		other, err := db.Mailbox(ctx, a.ID, "Archive")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			raw := strings.NewReader(tc.raw)
			st, err := db.Stage(ctx, iotest.OneByteReader(raw), 0)
			if err != nil {
				t.Fatal(err)
			}
			if (st.Inline == nil) != files {
				t.Fatalf("%s: inline %v with file blobs %v", tc.name, st.Inline != nil, files)
			}
			if st.Size != int64(tc.size) || st.LineEndPad != tc.pad {
				t.Errorf("%s (files %v): staged size %d pad %d, want %d %d", tc.name, files, st.Size, st.LineEndPad, tc.size, tc.pad)
			}
			res, err := db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st}})
			if err != nil || res[0].Err != nil {
				t.Fatal(err, res[0].Err)
			}
			if m := fetchOne(t, db, a.ID, inbox.ID, res[0].UID); m.LineEndPad != tc.pad {
				t.Errorf("%s (files %v): fetched pad %d, want %d", tc.name, files, m.LineEndPad, tc.pad)
			}
			_, dst, _, err := db.Copy(ctx, a.ID, inbox.ID, []store.UID{res[0].UID}, other.ID)
			if err != nil {
				t.Fatal(err)
			}
			if m := fetchOne(t, db, a.ID, other.ID, dst[0]); m.LineEndPad != tc.pad {
				t.Errorf("%s (files %v): copy has pad %d, want %d", tc.name, files, m.LineEndPad, tc.pad)
			}
		}
	}
}

// TestLineEndPadMigration: a message stored by a schema without the
// column reads back as -1 (unknown) after the migration that adds it.
func TestLineEndPadMigration(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	a, inbox := mustAccount(t, db, "old")
	uid := deliver(t, db, a.ID, inbox.ID, "Subject: old\r\n\r\nno line end").UID
	db.Close()
	// Take the database back to schema 5: undo step 8, 7, then 6.
	raw, err := sql.Open("sqlite", filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	undoMetaTable(t, raw)
	for _, q := range []string{
		"DROP INDEX messages_retrieved", "ALTER TABLE messages DROP COLUMN retrieved_at",
		"ALTER TABLE messages DROP COLUMN line_end_pad", "PRAGMA user_version = 5",
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db = openTest(t, dir)
	if m := fetchOne(t, db, a.ID, inbox.ID, uid); m.LineEndPad != -1 {
		t.Fatalf("pad of a message stored before the column: %d, want -1", m.LineEndPad)
	}
}
