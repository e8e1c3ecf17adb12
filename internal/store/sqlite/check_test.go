package sqlite

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCheckFindsBlobProblems(t *testing.T) {
	db := openFileBlobs(t)
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "jack")
	var blobs []string
	for i, body := range []string{"one", "two", "three"} {
		deliver(t, db, a.ID, inbox.ID, testMessage("<"+body+"@x>", "s", body))
		_ = i
	}
	rep := mustClean(t, db)
	if rep.Messages != 3 || rep.Blobs != 3 || rep.Accounts != 1 || rep.Mailboxes != 6 {
		t.Fatalf("report %+v", rep)
	}
	refs, _ := db.MessageRefs(ctx, a.ID, inbox.ID)
	for _, r := range refs {
		m := fetchOne(t, db, a.ID, inbox.ID, r.UID)
		blobs = append(blobs, m.BlobID)
	}
	// A deleted blob, a corrupted blob and an orphan (old enough).
	if err := os.Remove(db.blobs.Path(blobs[0])); err != nil {
		t.Fatal(err)
	}
	p := db.blobs.Path(blobs[1])
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, []byte(strings.Repeat("z", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan, _, err := db.blobs.Put(ctx, strings.NewReader("nobody references me"), 0)
	if err != nil {
		t.Fatal(err)
	}
	young, _, _ := db.blobs.Put(ctx, strings.NewReader("staged a moment ago"), 0)
	old := time.Now().Add(-3 * time.Hour)
	os.Chtimes(db.blobs.Path(orphan), old, old)

	rep, err = db.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{blobs[0] + " is missing", blobs[1] + " is corrupt", orphan + " is not referenced"}
	for _, w := range want {
		if !anyContains(rep.Problems, w) {
			t.Errorf("problem %q not reported in %q", w, rep.Problems)
		}
	}
	if anyContains(rep.Problems, young) {
		t.Errorf("young blob reported: %q", rep.Problems)
	}
	rep, err = db.Check(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !anyContains(rep.Repaired, orphan) {
		t.Fatalf("orphan not removed: %q", rep.Repaired)
	}
	if _, err := os.Stat(db.blobs.Path(orphan)); !os.IsNotExist(err) {
		t.Fatal("orphan still on disk")
	}
	if _, err := os.Stat(db.blobs.Path(young)); err != nil {
		t.Fatal("young blob removed")
	}
}

func TestCheckRepairsCounters(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "kate")
	deliver(t, db, a.ID, inbox.ID, testMessage("<k@x>", "s", "b"))
	deliver(t, db, a.ID, inbox.ID, testMessage("<l@x>", "s", "b"))
	// Break the counters behind the store's back.
	err := db.write(ctx, func(w *wtx) error {
		if _, err := w.exec("UPDATE mailboxes SET uidnext = 2, highestmodseq = 1 WHERE id = ?", inbox.ID); err != nil {
			return err
		}
		if _, err := w.exec("INSERT INTO tombstones(account_id, mailbox_id, uid, modseq, expunged_at) VALUES (?, ?, 1, 1, 0)", a.ID, inbox.ID); err != nil {
			return err
		}
		_, err := w.exec("UPDATE accounts SET used_bytes = 7 WHERE id = ?", a.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := db.Check(ctx, false)
	for _, w := range []string{"UIDNEXT 2", "HIGHESTMODSEQ 1", "usage says 7", "both present and expunged"} {
		if !anyContains(rep.Problems, w) {
			t.Errorf("%q not in %q", w, rep.Problems)
		}
	}
	if _, err := db.Check(ctx, true); err != nil {
		t.Fatal(err)
	}
	mustClean(t, db)
	r := deliver(t, db, a.ID, inbox.ID, testMessage("<m@x>", "s", "b"))
	if r.UID != 3 {
		t.Fatalf("uid after repair %d", r.UID)
	}
}

func anyContains(list []string, s string) bool {
	for _, l := range list {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
