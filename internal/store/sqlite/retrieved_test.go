package sqlite

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// TestMarkRetrieved: the first retrieval time is kept (a later mark does
// not move it), RetrievedBefore lists by that time, only in its mailbox,
// and an expunged or copied message leaves no trace of it.
func TestMarkRetrieved(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "pop")
	b, otherInbox := mustAccount(t, db, "other")
	archive, err := db.Mailbox(ctx, a.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	for i := range 4 {
		uids = append(uids, deliver(t, db, a.ID, inbox.ID, testMessage("<r"+string(rune('0'+i))+"@x>", "r", "body")).UID)
	}
	bUID := deliver(t, db, b.ID, otherInbox.ID, testMessage("<b@x>", "b", "body")).UID
	before := func(at time.Time) []store.UID {
		t.Helper()
		got, err := db.RetrievedBefore(ctx, a.ID, inbox.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := before(time.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("retrieved before any mark: %v", got)
	}
	t0 := time.Now().Add(-48 * time.Hour)
	t1 := t0.Add(24 * time.Hour)
	hms := mustMailbox(t, db, a.ID, inbox.ID).HighestModSeq
	if err := db.MarkRetrieved(ctx, a.ID, inbox.ID, uids[:2], t0); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkRetrieved(ctx, a.ID, inbox.ID, uids[1:3], t1); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkRetrieved(ctx, b.ID, otherInbox.ID, []store.UID{bUID}, t0); err != nil {
		t.Fatal(err)
	}
	if got := before(t0); len(got) != 0 {
		t.Fatalf("retrieved before %v: %v", t0, got)
	}
	if got := before(t0.Add(time.Second)); !slices.Equal(got, uids[:2]) {
		t.Fatalf("retrieved before t0+1s: %v, want %v (the second mark must not move message 2)", got, uids[:2])
	}
	if got := before(t1.Add(time.Second)); !slices.Equal(got, uids[:3]) {
		t.Fatalf("retrieved before t1+1s: %v, want %v", got, uids[:3])
	}
	if h := mustMailbox(t, db, a.ID, inbox.ID).HighestModSeq; h != hms {
		t.Fatalf("MarkRetrieved changed HIGHESTMODSEQ %d -> %d", hms, h)
	}
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, uids[:1]); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.Copy(ctx, a.ID, inbox.ID, uids[1:2], archive.ID); err != nil {
		t.Fatal(err)
	}
	if got := before(t1.Add(time.Second)); !slices.Equal(got, uids[1:3]) {
		t.Fatalf("after expunging message 1: %v, want %v", got, uids[1:3])
	}
	if got, err := db.RetrievedBefore(ctx, a.ID, archive.ID, t1.Add(time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("a copy inherited the retrieval: %v %v", got, err)
	}
	mustClean(t, db)
}

func mustMailbox(t *testing.T, db *DB, acct store.AccountID, id store.MailboxID) store.Mailbox {
	t.Helper()
	mb, err := db.MailboxByID(context.Background(), acct, id)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}
