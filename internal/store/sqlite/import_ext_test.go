package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
	"github.com/postern/postern/internal/transfer"
)

// The embedded store keeps UIDs on import (transfer.Import finds the
// capability with a type assertion).
var _ transfer.UIDPreserver = (*sqlite.DB)(nil)

// TestImportDovecotMaildirKeepsUIDs imports a hand-made Dovecot Maildir
// (dovecot-uidlist v3, a Maildir++ subfolder, a message the uidlist does
// not know) and checks UIDVALIDITY, UIDs and UIDNEXT, then imports again
// (nothing added) and checks the store.
func TestImportDovecotMaildirKeepsUIDs(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(i int) string {
		return fmt.Sprintf("From: a@example.org\nTo: b@example.org\nSubject: m%d\nMessage-ID: <%d@dove>\n\nbody %d\n", i, i, i)
	}
	for _, d := range []string{"tmp", "new", ".Work/tmp", ".Work/new"} {
		os.MkdirAll(filepath.Join(src, d), 0o700)
	}
	write(filepath.Join(src, "cur", "1700000001.M1P1.host:2,S"), msg(1))
	write(filepath.Join(src, "cur", "1700000002.M2P1.host:2,"), msg(2))
	write(filepath.Join(src, "cur", "1700000003.M3P1.host:2,F"), msg(3))
	write(filepath.Join(src, "new", "1700000009.M9P1.host"), msg(9)) // not in the uidlist
	write(filepath.Join(src, "dovecot-uidlist"), "3 V1500000000 N31 Gabc\n"+
		"4 :1700000001.M1P1.host\n"+
		"17 W100 :1700000002.M2P1.host:2,\n"+
		"30 :1700000003.M3P1.host\n")
	write(filepath.Join(src, ".Work", "cur", "1700000004.M4P1.host:2,S"), msg(4))
	write(filepath.Join(src, ".Work", "dovecot-uidlist"), "3 V1500000077 N8\n7 :1700000004.M4P1.host\n")

	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acct, err := db.CreateAccount(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	opts := transfer.ImportOptions{Account: "dave", Format: transfer.FormatMaildir, Path: src}
	rep, err := transfer.Import(ctx, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 5 || rep.Failed != 0 || len(rep.UIDsKept) != 2 {
		t.Fatalf("report %+v", rep)
	}
	check := func() {
		t.Helper()
		for _, c := range []struct {
			name     string
			validity uint32
			uids     string
			uidNext  store.UID
		}{
			{"INBOX", 1500000000, "[4 17 30 31]", 32},
			{"Work", 1500000077, "[7]", 8},
		} {
			mb, err := db.Mailbox(ctx, acct.ID, c.name)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := db.MessageRefs(ctx, acct.ID, mb.ID)
			if err != nil {
				t.Fatal(err)
			}
			var uids []store.UID
			for _, r := range refs {
				uids = append(uids, r.UID)
			}
			if mb.UIDValidity != c.validity || fmt.Sprint(uids) != c.uids || mb.UIDNext != c.uidNext {
				t.Errorf("%s: UIDVALIDITY %d UIDs %v UIDNEXT %d, want %d %s %d", c.name, mb.UIDValidity, uids, mb.UIDNext, c.validity, c.uids, c.uidNext)
			}
		}
	}
	check()
	// The message that had UID 17 kept its bytes and flags.
	inbox, _ := db.Mailbox(ctx, acct.ID, "INBOX")
	err = db.Fetch(ctx, acct.ID, inbox.ID, []store.UID{17, 30}, store.FetchOptions{Headers: true}, func(m *store.Message) error {
		want := map[store.UID]string{17: "<2@dove>", 30: "<3@dove>"}[m.UID]
		if m.Headers.MessageID != want {
			return fmt.Errorf("UID %d is %s, want %s", m.UID, m.Headers.MessageID, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Again: idempotent, UIDs unchanged.
	rep, err = transfer.Import(ctx, db, opts)
	if err != nil || rep.Messages != 0 || rep.Skipped != 5 {
		t.Fatalf("second import: %+v %v", rep, err)
	}
	check()
	crep, err := db.Check(ctx, false)
	if err != nil || len(crep.Problems) > 0 {
		t.Fatalf("check: %q %v", crep.Problems, err)
	}
}

// BenchmarkImportMaildir measures `postern import` of a Dovecot Maildir of
// 2,000 distinct 4 KiB messages with their UIDs (transfer.Import through
// AppendWithUIDs), into a fresh account per iteration.
func BenchmarkImportMaildir(b *testing.B) {
	const n = 2000
	src := b.TempDir()
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	var ul strings.Builder
	fmt.Fprintf(&ul, "3 V1500000000 N%d\n", 2*n+1)
	body := strings.Repeat("Some text of a message, long enough to fill a line.\n", 75)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("17000%05d.M%dP1.host", i, i)
		raw := fmt.Sprintf("From: a@example.org\nTo: b@example.org\nSubject: m%d\nMessage-ID: <%d@bench>\n\n%s", i, i, body)
		if err := os.WriteFile(filepath.Join(src, "cur", name+":2,S"), []byte(raw), 0o600); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&ul, "%d :%s\n", 2*i+1, name)
	}
	if err := os.WriteFile(filepath.Join(src, "dovecot-uidlist"), []byte(ul.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, b.TempDir(), sqlite.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench%d", i)
		if _, err := db.CreateAccount(ctx, name); err != nil {
			b.Fatal(err)
		}
		c0, j0 := db.Stats()
		rep, err := transfer.Import(ctx, db, transfer.ImportOptions{Account: name, Format: transfer.FormatMaildir, Path: src})
		if err != nil || rep.Messages != n || len(rep.UIDsKept) != 1 {
			b.Fatalf("%+v %v", rep, err)
		}
		c1, j1 := db.Stats()
		b.ReportMetric(float64(c1-c0), "commits/import")
		_ = j1 - j0
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
