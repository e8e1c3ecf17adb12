package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/internal/store"
)

// TestAppendBodyNotDurable: when a body cannot be made durable before the
// commit (here: its blob vanished after Stage), only the appends that use
// it fail, nothing of them is committed, and the others of the same group
// commit still succeed.
func TestAppendBodyNotDurable(t *testing.T) {
	db := openFileBlobs(t)
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "lost")
	lost, err := db.Stage(ctx, strings.NewReader(testMessage("<lost@x>", "lost", "gone")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.blobs.Remove(lost.BlobID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: lost}}); !errors.Is(err, store.ErrTemporary) {
		t.Fatalf("append of a lost body: %v", err)
	}
	var wg sync.WaitGroup
	results := make([]error, 12)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st := lost
			if i%4 != 0 {
				st, results[i] = db.Stage(ctx, strings.NewReader(testMessage(fmt.Sprintf("<%d@x>", i), "ok", "fine")), 0)
				if results[i] != nil {
					return
				}
			}
			_, results[i] = db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st}})
		}(i)
	}
	wg.Wait()
	for i, err := range results {
		if (i%4 == 0) != errors.Is(err, store.ErrTemporary) || i%4 != 0 && err != nil {
			t.Errorf("append %d: %v", i, err)
		}
	}
	if got := refUIDs(t, db, a.ID, inbox.ID); len(got) != 9 {
		t.Fatalf("%d messages, want 9", len(got))
	}
	mustClean(t, db)
}
