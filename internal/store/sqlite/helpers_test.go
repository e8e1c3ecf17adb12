package sqlite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTest opens a fresh store in a temporary directory.
func openTest(t testing.TB, dir string) *DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := Open(context.Background(), dir, Options{Logger: quietLogger(), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openFileBlobs is openTest with every body in a blob file (InlineMax
// negative), for tests of the file path.
func openFileBlobs(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), t.TempDir(), Options{Logger: quietLogger(), PollInterval: 20 * time.Millisecond, InlineMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testMessage builds a small RFC 5322 message.
func testMessage(msgID, subject, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: Mon, 02 Jan 2006 15:04:05 -0700\r\n", subject, msgID)
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\n" + body + "\r\n")
	return b.String()
}

func mustAccount(t testing.TB, db *DB, name string) (store.Account, store.Mailbox) {
	t.Helper()
	ctx := context.Background()
	a, err := db.CreateAccount(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := db.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return a, inbox
}

func deliver(t testing.TB, db *DB, acct store.AccountID, mb store.MailboxID, raw string, flags ...string) store.AppendResult {
	t.Helper()
	ctx := context.Background()
	st, err := db.Stage(ctx, strings.NewReader(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Append(ctx, []store.AppendRequest{{Account: acct, Mailbox: mb, Message: st, Flags: flags}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0]
}

func refUIDs(t testing.TB, db *DB, acct store.AccountID, mb store.MailboxID) []store.UID {
	t.Helper()
	refs, err := db.MessageRefs(context.Background(), acct, mb)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]store.UID, len(refs))
	for i, r := range refs {
		out[i] = r.UID
	}
	return out
}

func mustClean(t testing.TB, db *DB) store.CheckReport {
	t.Helper()
	rep, err := db.Check(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("check problems: %q", rep.Problems)
	}
	return rep
}

func fetchOne(t testing.TB, db *DB, acct store.AccountID, mb store.MailboxID, uid store.UID) *store.Message {
	t.Helper()
	var out *store.Message
	err := db.Fetch(context.Background(), acct, mb, []store.UID{uid}, store.FetchOptions{Structure: true, Headers: true}, func(m *store.Message) error {
		out = m
		return nil
	})
	if err != nil || out == nil {
		t.Fatalf("fetch %d: %v", uid, err)
	}
	return out
}
