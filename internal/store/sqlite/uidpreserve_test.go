package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
)

func TestImportMailbox(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "imp")

	// A new mailbox (and its parent) with the old server's UIDVALIDITY.
	mb, err := db.ImportMailbox(ctx, a.ID, "Archive/2020", 1234567)
	if err != nil || mb.UIDValidity != 1234567 || mb.UIDNext != 1 {
		t.Fatalf("new: %+v %v", mb, err)
	}
	if got, err := db.Mailbox(ctx, a.ID, "Archive/2020"); err != nil || got.UIDValidity != 1234567 || got.ID != mb.ID {
		t.Fatalf("stored: %+v %v", got, err)
	}
	if _, err := db.Mailbox(ctx, a.ID, "Archive"); err != nil {
		t.Fatalf("parent: %v", err)
	}
	// Same UIDVALIDITY again: the same mailbox, even after messages.
	deliver(t, db, a.ID, mb.ID, testMessage("<1@i>", "one", "x"))
	again, err := db.ImportMailbox(ctx, a.ID, "Archive/2020", 1234567)
	if err != nil || again.ID != mb.ID || again.UIDNext != 2 {
		t.Fatalf("again: %+v %v", again, err)
	}
	// A different UIDVALIDITY on a mailbox that held a message: refused.
	if _, err := db.ImportMailbox(ctx, a.ID, "Archive/2020", 99); !errors.Is(err, store.ErrMailboxExists) {
		t.Fatalf("used mailbox: %v", err)
	}
	// INBOX never held a message: its UIDVALIDITY is replaced.
	got, err := db.ImportMailbox(ctx, a.ID, "inbox", 1600000000)
	if err != nil || got.ID != inbox.ID || got.UIDValidity != 1600000000 {
		t.Fatalf("inbox: %+v %v", got, err)
	}
	if _, err := db.ImportMailbox(ctx, a.ID, "Zero", 0); err == nil {
		t.Fatal("UIDVALIDITY 0 accepted")
	}
	if _, err := db.ImportMailbox(ctx, 999, "X", 5); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("no account: %v", err)
	}
	// Later UIDVALIDITY values never repeat an imported one, even from the
	// future (a mailbox deleted and created again must get a new one).
	future := uint32(db.now().Unix() + 1000)
	if _, err := db.ImportMailbox(ctx, a.ID, "Future", future); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteMailbox(ctx, a.ID, "Future"); err != nil {
		t.Fatal(err)
	}
	re, err := db.CreateMailbox(ctx, a.ID, "Future", "")
	if err != nil || re.UIDValidity <= future {
		t.Fatalf("recreated: %+v %v (imported %d)", re, err, future)
	}
	mustClean(t, db)
}

func TestAppendWithUIDs(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, _ := mustAccount(t, db, "uids")
	mb, err := db.ImportMailbox(ctx, a.ID, "Old", 777)
	if err != nil {
		t.Fatal(err)
	}
	sub := db.Hub().Subscribe(a.ID)
	defer sub.Close()

	stage := func(i int) *store.Staged {
		st, err := db.Stage(ctx, strings.NewReader(testMessage(fmt.Sprintf("<%d@u>", i), "u", "body")), 0)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	reqs := make([]store.AppendRequest, 4)
	for i := range reqs {
		reqs[i] = store.AppendRequest{Account: a.ID, Mailbox: mb.ID, Message: stage(i)}
	}
	// 3 is too low after 7: it fails alone.
	res, err := db.AppendWithUIDs(ctx, reqs, []store.UID{2, 7, 3, 40})
	if err != nil {
		t.Fatal(err)
	}
	wantUID := []store.UID{2, 7, 0, 40}
	for i, r := range res {
		if i == 2 {
			if !errors.Is(r.Err, ErrUIDTooLow) || !errors.Is(r.Err, store.ErrCannot) {
				t.Fatalf("request 2: %+v", r)
			}
			continue
		}
		if r.Err != nil || r.UID != wantUID[i] || r.UIDValidity != 777 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if got := refUIDs(t, db, a.ID, mb.ID); fmt.Sprint(got) != "[2 7 40]" {
		t.Fatalf("UIDs %v", got)
	}
	cur, _ := db.MailboxByID(ctx, a.ID, mb.ID)
	if cur.UIDNext != 41 {
		t.Fatalf("UIDNEXT %d", cur.UIDNext)
	}
	// Published like any append.
	evs, _ := sub.Drain()
	var published []store.UID
	for _, ev := range evs {
		if ev.Kind == store.EventAppend && ev.Mailbox == mb.ID {
			published = append(published, ev.UID)
		}
	}
	if fmt.Sprint(published) != "[2 7 40]" {
		t.Fatalf("published appends %v (events %+v)", published, evs)
	}
	// Below UIDNEXT, and the largest UID (no room for UIDNEXT), fail alone.
	res, err = db.AppendWithUIDs(ctx, reqs[:2], []store.UID{40, 0xffffffff})
	if err != nil || !errors.Is(res[0].Err, ErrUIDTooLow) || !errors.Is(res[1].Err, ErrUIDTooLow) {
		t.Fatalf("too low: %+v %v", res, err)
	}
	if _, err := db.AppendWithUIDs(ctx, reqs[:2], []store.UID{50}); err == nil {
		t.Fatal("length mismatch accepted")
	}
	// RaiseUIDNext raises, never lowers; a plain Append follows it.
	if err := db.RaiseUIDNext(ctx, a.ID, mb.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := db.RaiseUIDNext(ctx, a.ID, mb.ID, 60); err != nil {
		t.Fatal(err)
	}
	if err := db.RaiseUIDNext(ctx, a.ID, 12345, 60); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("no mailbox: %v", err)
	}
	if r := deliver(t, db, a.ID, mb.ID, testMessage("<late@u>", "late", "x")); r.UID != 100 {
		t.Fatalf("append after raise: UID %d", r.UID)
	}
	// Expunged UIDs stay unusable.
	if _, err := db.Expunge(ctx, a.ID, mb.ID, []store.UID{100}); err != nil {
		t.Fatal(err)
	}
	res, err = db.AppendWithUIDs(ctx, reqs[:1], []store.UID{100})
	if err != nil || !errors.Is(res[0].Err, ErrUIDTooLow) {
		t.Fatalf("expunged UID reused: %+v %v", res, err)
	}
	mustClean(t, db)
}
