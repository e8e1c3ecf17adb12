package sqlite

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	f.n -= k
	return k, nil
}

func TestStage(t *testing.T) {
	db := openFileBlobs(t)
	ctx := context.Background()
	st, err := db.Stage(ctx, strings.NewReader("Subject: lf\n\nline one\nline two\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	body, err := db.OpenBody(ctx, st.BlobID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "Subject: lf\r\n\r\nline one\r\nline two\r\n" {
		t.Fatalf("stored %q", b)
	}
	if st.Size != int64(len(b)) || st.Parsed.Size != st.Size || st.Parsed.Headers.Subject != "lf" || st.Parsed.Root == nil || st.Parsed.Root.End != st.Size {
		t.Fatalf("staged %+v root %+v", st, st.Parsed.Root)
	}
	if _, err := db.Stage(ctx, &failingReader{n: 100000}, 0); err == nil || errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("reader error: %v", err)
	}
	tmp, _ := os.ReadDir(db.blobs.Dir() + "/tmp")
	if len(tmp) != 0 {
		t.Fatalf("%d temp files left", len(tmp))
	}
	if _, err := db.OpenBody(ctx, strings.Repeat("0", 64)); !errors.Is(err, store.ErrNoMessage) {
		t.Fatalf("missing body: %v", err)
	}
}

// TestDeleteAccountBlobs: deleting an account leaves its blobs to
// Check(repair), which removes them once past the grace period.
func TestDeleteAccountBlobs(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db, err := Open(context.Background(), t.TempDir(), Options{Logger: quietLogger(), Clock: clock, InlineMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "nina")
	b, binbox := mustAccount(t, db, "omar")
	deliver(t, db, a.ID, inbox.ID, testMessage("<only-a@x>", "s", "a only"))
	shared := testMessage("<shared@x>", "s", "both")
	deliver(t, db, a.ID, inbox.ID, shared)
	deliver(t, db, b.ID, binbox.ID, shared)
	if err := db.DeleteAccount(ctx, "nina"); err != nil {
		t.Fatal(err)
	}
	if countBlobs(t, db) != 2 {
		t.Fatal("blobs removed eagerly")
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	rep, err := db.Check(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Repaired) != 1 || countBlobs(t, db) != 1 || rep.Accounts != 1 {
		t.Fatalf("repair %+v, %d blobs", rep, countBlobs(t, db))
	}
	rep = mustClean(t, db)
	if rep.Messages != 1 {
		t.Fatalf("report %+v", rep)
	}
}

// TestCrossProcessMailboxEvents: mailbox and flag changes also cross.
func TestCrossProcessMailboxEvents(t *testing.T) {
	dir := t.TempDir()
	server := openTest(t, dir)
	cli := openTest(t, dir)
	ctx := context.Background()
	a, inbox := mustAccount(t, server, "pia")
	r := deliver(t, server, a.ID, inbox.ID, testMessage("<p@x>", "s", "b"))
	sub := server.Hub().Subscribe(a.ID)
	defer sub.Close()
	if _, err := cli.CreateMailbox(ctx, a.ID, "Projects", ""); err != nil {
		t.Fatal(err)
	}
	if err := cli.RenameMailbox(ctx, a.ID, "Projects", "Done"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli.UpdateFlags(ctx, a.ID, inbox.ID, []store.UID{r.UID}, store.FlagsAdd, []string{`\Flagged`}, 0); err != nil {
		t.Fatal(err)
	}
	want := map[store.EventKind]bool{store.EventMailboxCreate: false, store.EventMailboxRename: false, store.EventFlags: false}
	deadline := time.After(10 * time.Second)
	for missing := len(want); missing > 0; {
		select {
		case <-sub.C:
		case <-deadline:
			t.Fatalf("events seen: %v", want)
		}
		evs, _ := sub.Drain()
		for _, e := range evs {
			if seen, ok := want[e.Kind]; ok && !seen {
				if e.Kind == store.EventMailboxRename && (e.Name != "Done" || e.OldName != "Projects") {
					t.Fatalf("rename event %+v", e)
				}
				want[e.Kind] = true
				missing--
			}
		}
	}
}

func TestClosed(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAccount(context.Background(), "late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestWriteJobPanic(t *testing.T) {
	db := openTest(t, "")
	err := db.write(context.Background(), func(w *wtx) error { panic("boom") })
	if !errors.Is(err, store.ErrTemporary) {
		t.Fatalf("panic: %v", err)
	}
	mustAccount(t, db, "after-panic") // the writer still works
}

// TestCloseStopsGoroutines: the writer, poller and indexer end with Close.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	db, err := Open(context.Background(), dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	a, inbox := mustAccount(t, db, "sam")
	deliver(t, db, a.ID, inbox.ID, testMessage("<s@x>", "s", "b"))
	if runtime.NumGoroutine() < before+3 {
		t.Fatalf("goroutines %d, before %d", runtime.NumGoroutine(), before)
	}
	db.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
