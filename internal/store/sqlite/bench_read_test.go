package sqlite

import (
	"context"
	"testing"

	"github.com/postern/postern/internal/store"
)

// BenchmarkReadPaths measures the store calls behind IMAP SEARCH on
// headers (Fetch with Headers), STORE 1:* +FLAGS (UpdateFlags) on 10,000
// messages, and MessageRefs of 100,000 messages (QRESYNC reselect).
func BenchmarkReadPaths(b *testing.B) {
	db := openTest(b, "")
	ctx := context.Background()
	a, inbox := mustAccount(b, db, "read")
	const small = 10_000
	if err := bulkAppend(db, a.ID, inbox.ID, small); err != nil {
		b.Fatal(err)
	}
	uids := make([]store.UID, small)
	for i := range uids {
		uids[i] = store.UID(i + 1)
	}
	b.Run("fetch-headers-10k", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			got := 0
			err := db.Fetch(ctx, a.ID, inbox.ID, uids, store.FetchOptions{Headers: true}, func(m *store.Message) error {
				if m.Headers.Subject == "fixture" {
					got++
				}
				return nil
			})
			if err != nil || got != small {
				b.Fatal(got, err)
			}
		}
	})
	flagged := false // the state the previous iteration left
	b.Run("store-flags-10k", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			op := store.FlagsAdd
			if flagged {
				op = store.FlagsRemove
			}
			flagged = !flagged
			up, _, err := db.UpdateFlags(ctx, a.ID, inbox.ID, uids, op, []string{store.FlagFlagged}, 0)
			if err != nil || len(up) != small {
				b.Fatal(len(up), err)
			}
		}
	})
	big, err := db.CreateMailbox(ctx, a.ID, "Big", "")
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	if err := bulkAppend(db, a.ID, big.ID, n); err != nil {
		b.Fatal(err)
	}
	// refs-100k-miss empties the refs cache before every call: the cost
	// of a reselect after the mailbox changed.
	b.Run("refs-100k-miss", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			db.refs.mu.Lock()
			db.refs.entries, db.refs.total = nil, 0
			db.refs.mu.Unlock()
			refs, err := db.MessageRefs(ctx, a.ID, big.ID)
			if err != nil || len(refs) != n {
				b.Fatal(len(refs), err)
			}
		}
	})
	// refs-100k-delta changes 100 messages' flags (untimed) before every
	// call: a QRESYNC reselect after 100 changes.
	b.Run("refs-100k-delta", func(b *testing.B) {
		some := make([]store.UID, 100)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			for j := range some {
				some[j] = store.UID(1 + ((i/2)*100+j*997)%n)
			}
			op := store.FlagsAdd
			if i%2 == 1 {
				op = store.FlagsRemove
			}
			if _, _, err := db.UpdateFlags(ctx, a.ID, big.ID, some, op, []string{"$Bench"}, 0); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			refs, err := db.MessageRefs(ctx, a.ID, big.ID)
			if err != nil || len(refs) != n {
				b.Fatal(len(refs), err)
			}
		}
	})
	b.Run("refs-100k", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			refs, err := db.MessageRefs(ctx, a.ID, big.ID)
			if err != nil || len(refs) != n {
				b.Fatal(len(refs), err)
			}
		}
	})
}
