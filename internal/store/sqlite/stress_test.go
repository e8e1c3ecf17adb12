package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/postern/postern/internal/store"
)

// TestConcurrentMixed runs deliveries, flag changes, copies, moves and
// expunges at once from several goroutines and a second DB on the same
// directory, then checks the invariants: Check is clean, UIDs were never
// reused, and every mailbox's HIGHESTMODSEQ covers its messages.
func TestConcurrentMixed(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	other := openTest(t, dir)
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "tess")
	trash, _ := db.Mailbox(ctx, a.ID, "Trash")
	var mu sync.Mutex
	issued := map[store.MailboxID]map[store.UID]bool{inbox.ID: {}, trash.ID: {}}
	record := func(mb store.MailboxID, uids ...store.UID) error {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range uids {
			if issued[mb][u] {
				return fmt.Errorf("UID %d issued twice in mailbox %d", u, mb)
			}
			issued[mb][u] = true
		}
		return nil
	}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			s := db
			if g%2 == 1 {
				s = other
			}
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; i < 60; i++ {
				var err error
				switch op := rng.IntN(6); {
				case op <= 2:
					var st *store.Staged
					st, err = s.Stage(ctx, strings.NewReader(testMessage(fmt.Sprintf("<%d.%d@mix>", g, i), "mix", "body")), 0)
					if err == nil {
						var res []store.AppendResult
						res, err = s.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st}})
						if err == nil {
							err = record(inbox.ID, res[0].UID)
						}
					}
				case op == 3:
					_, _, err = s.UpdateFlags(ctx, a.ID, inbox.ID, randomUIDs(rng), store.FlagsAdd, []string{`\Seen`, fmt.Sprint("k", g)}, 0)
				case op == 4:
					var dst []store.UID
					if rng.IntN(2) == 0 {
						_, dst, _, err = s.Copy(ctx, a.ID, inbox.ID, randomUIDs(rng), trash.ID)
					} else {
						_, dst, _, err = s.Move(ctx, a.ID, inbox.ID, randomUIDs(rng), trash.ID)
					}
					if err == nil {
						err = record(trash.ID, dst...)
					}
				default:
					_, err = s.Expunge(ctx, a.ID, trash.ID, randomUIDs(rng))
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	mustClean(t, db)
	for _, id := range []store.MailboxID{inbox.ID, trash.ID} {
		mb, _ := db.MailboxByID(ctx, a.ID, id)
		refs, _ := db.MessageRefs(ctx, a.ID, id)
		for _, r := range refs {
			if r.ModSeq > mb.HighestModSeq || r.UID >= mb.UIDNext {
				t.Fatalf("%s: ref %+v vs %+v", mb.Name, r, mb)
			}
		}
	}
}

func randomUIDs(rng *rand.Rand) []store.UID {
	out := make([]store.UID, 1+rng.IntN(5))
	for i := range out {
		out[i] = store.UID(1 + rng.IntN(200))
	}
	return out
}
