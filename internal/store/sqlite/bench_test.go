package sqlite

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// BenchmarkAppend measures durable delivery (Stage + Append, each
// acknowledged only after fsync) of 4 KiB and 100 KiB messages from 1 and 8
// goroutines. Concurrent deliveries share commits (group commit).
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%dKiB/goroutines=%d", size>>10, conc), func(b *testing.B) {
				db := openTest(b, "")
				a, inbox := mustAccount(b, db, "bench")
				body := strings.Repeat(strings.Repeat("x", 70)+"\r\n", size/72)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				var failed sync.Once
				for g := 0; g < conc; g++ {
					n := b.N / conc
					if g < b.N%conc {
						n++
					}
					wg.Add(1)
					go func(g, n int) {
						defer wg.Done()
						for i := 0; i < n; i++ {
							// A distinct first line makes every blob distinct.
							raw := testMessage(fmt.Sprintf("<%d.%d@bench>", g, i), "bench", body)
							st, err := db.Stage(ctx, strings.NewReader(raw), 0)
							if err != nil {
								failed.Do(func() { b.Error(err) })
								return
							}
							res, err := db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st}})
							if err != nil || res[0].Err != nil {
								failed.Do(func() { b.Error(err) })
								return
							}
						}
					}(g, n)
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				if commits, jobs := db.Stats(); commits > 0 {
					b.ReportMetric(float64(jobs)/float64(commits), "appends/commit")
				}
			})
		}
	}
}

// BenchmarkFetchMetadata100k measures what an IMAP SELECT plus
// "FETCH 1:* (ENVELOPE BODYSTRUCTURE)" costs on a 100,000-message mailbox:
// MessageRefs and one Fetch over all UIDs.
func BenchmarkFetchMetadata100k(b *testing.B) {
	const n = 100_000
	db := openTest(b, "")
	a, inbox := mustAccount(b, db, "big")
	if err := bulkAppend(db, a.ID, inbox.ID, n); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("refs+fetch", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			refs, err := db.MessageRefs(ctx, a.ID, inbox.ID)
			if err != nil || len(refs) != n {
				b.Fatal(len(refs), err)
			}
			uids := make([]store.UID, len(refs))
			for j, r := range refs {
				uids[j] = r.UID
			}
			got := 0
			err = db.Fetch(ctx, a.ID, inbox.ID, uids, store.FetchOptions{Envelope: true, BodyStructure: true}, func(m *store.Message) error {
				if len(m.EnvelopeIMAP) == 0 {
					return fmt.Errorf("no envelope")
				}
				got++
				return nil
			})
			if err != nil || got != n {
				b.Fatal(got, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("status", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			st, err := db.Status(ctx, a.ID, inbox.ID)
			if err != nil || st.Messages != n || st.Unseen != 0 {
				b.Fatal(st, err)
			}
		}
	})
}

// bulkAppend fills a mailbox with n copies of one multipart message in
// large write jobs (a fixture builder, not the delivery path).
func bulkAppend(db *DB, acct store.AccountID, mb store.MailboxID, n int) error {
	ctx := context.Background()
	raw := "From: A <a@example.org>\r\nTo: b@example.org\r\nSubject: fixture\r\nMessage-ID: <fixture@x>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain text\r\n" +
		"--XX\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--XX--\r\n"
	st, err := db.Stage(ctx, strings.NewReader(raw), 0)
	if err != nil {
		return err
	}
	const per = 5000
	for done := 0; done < n; done += per {
		reqs := make([]store.AppendRequest, min(per, n-done))
		for i := range reqs {
			reqs[i] = store.AppendRequest{Account: acct, Mailbox: mb, Message: st, Flags: []string{`\Seen`}}
		}
		if _, err := db.Append(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkSearchText measures BODY search over 2,000 messages through the
// trigram index and by decoding bodies (a two-letter needle).
func BenchmarkSearchText(b *testing.B) {
	db, err := Open(context.Background(), b.TempDir(), Options{Logger: quietLogger(), NoIndexer: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	a, inbox := mustAccount(b, db, "search")
	const n = 2000
	uids := make([]store.UID, 0, n)
	for start := 0; start < n; start += 200 {
		reqs := make([]store.AppendRequest, 0, 200)
		for i := start; i < start+200; i++ {
			raw := testMessage(fmt.Sprintf("<%d@s>", i), "s", fmt.Sprintf("message number %d talks about topic%d\r\n%s", i, i%50, strings.Repeat("filler text line\r\n", 40)))
			st, err := db.Stage(ctx, strings.NewReader(raw), 0)
			if err != nil {
				b.Fatal(err)
			}
			reqs = append(reqs, store.AppendRequest{Account: a.ID, Mailbox: inbox.ID, Message: st})
		}
		res, err := db.Append(ctx, reqs)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			uids = append(uids, r.UID)
		}
	}
	if err := db.indexNow(ctx); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, needle string }{{"index", "topic17"}, {"scan", "c1"}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				got, err := db.SearchText(ctx, a.ID, inbox.ID, uids, []string{c.needle}, false)
				if err != nil || len(got) == 0 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}
