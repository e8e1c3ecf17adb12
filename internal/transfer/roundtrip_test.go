package transfer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func TestRoundTripMbox(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	alice := seedAccount(t, st, "alice")
	if _, err := st.CreateMailbox(ctx, alice.ID, "Extra/Empty", ""); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, st, "alice")
	bobAcct := mustCreateAccount(t, st, "bob")

	dir := filepath.Join(t.TempDir(), "export")
	prog := &recordingProgress{}
	erep, err := Export(ctx, st, ExportOptions{Account: "alice", Format: FormatMbox, Path: dir, Progress: prog, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(testCorpus()) + 4 + 2 + 1)
	if erep.Messages != n || prog.msgs != n || prog.totalMsgs != n || prog.done != 1 {
		t.Errorf("export report %+v, progress %+v; want %d messages", erep, prog, n)
	}
	for _, f := range []string{"INBOX.mbox", "Sub/Folder.mbox", "a.b.mbox", "Entwürfe.mbox"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("export file: %v", err)
		}
	}
	inbox, err := os.ReadFile(filepath.Join(dir, "INBOX.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n>From the start of a line.\n", "\n>>From quoted once\n", "\n>>>From quoted twice\n", "\nStatus: RO\nX-Status: A\nX-Keywords: $Forwarded\n\n"} {
		if !strings.Contains(string(inbox), want) {
			t.Errorf("exported mbox lacks %q", want)
		}
	}

	prog = &recordingProgress{}
	irep, err := Import(ctx, st, ImportOptions{Account: "bob", Format: FormatMbox, Path: dir, Progress: prog, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if irep.Messages != n || irep.Failed != 0 || irep.Skipped != 0 || prog.msgs != n || prog.bytes != prog.totalB {
		t.Errorf("import report %+v, progress %+v", irep, prog)
	}
	sameAccount(t, snapshot(t, st, "bob"), want)
	// Empty mailboxes come back too.
	if _, err := st.Mailbox(ctx, bobAcct.ID, "Extra/Empty"); err != nil {
		t.Errorf("empty mailbox not imported: %v", err)
	}

	// Importing again adds nothing.
	irep, err = Import(ctx, st, ImportOptions{Account: "bob", Format: FormatMbox, Path: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if irep.Messages != 0 || irep.Skipped != n {
		t.Errorf("second import: %+v, want 0 new and %d skipped", irep, n)
	}
	sameAccount(t, snapshot(t, st, "bob"), want)

	// One mailbox to one file and back into another mailbox.
	file := filepath.Join(t.TempDir(), "folder.mbox")
	if _, err := Export(ctx, st, ExportOptions{Account: "alice", Format: FormatMbox, Path: file, Mailbox: "Sub/Folder"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Export(ctx, st, ExportOptions{Account: "alice", Format: FormatMbox, Path: file, Mailbox: "Sub/Folder"}); err == nil {
		t.Error("export overwrote an existing file")
	}
	irep, err = Import(ctx, st, ImportOptions{Account: "bob", Format: FormatMbox, Path: file, Mailbox: "Restored/Folder"})
	if err != nil {
		t.Fatal(err)
	}
	if irep.Created != 1 || irep.Messages != 4 {
		t.Errorf("single file import: %+v", irep)
	}
	sameMailbox(t, "Restored/Folder", snapshot(t, st, "bob")["Restored/Folder"], want["Sub/Folder"])
}

func TestRoundTripMaildir(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	alice := seedAccount(t, st, "alice")
	want := snapshot(t, st, "alice")
	bob := mustCreateAccount(t, st, "bob")

	dir := filepath.Join(t.TempDir(), "Maildir")
	t.Chdir(filepath.Dir(dir))
	erep, err := Export(ctx, st, ExportOptions{Account: "alice", Format: FormatMaildir, Path: "./Maildir/", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(testCorpus()) + 4 + 2 + 1)
	if erep.Messages != n || erep.KeywordsDropped != 0 {
		t.Errorf("export report %+v", erep)
	}
	if _, err := os.Stat(filepath.Join(dir, "maildirfolder")); err == nil {
		t.Error("the root has a maildirfolder marker")
	}
	for _, f := range []string{"cur", "new", "tmp", "dovecot-uidlist", "dovecot-keywords", "subscriptions",
		".Sub.Folder/cur", ".Sub.Folder/maildirfolder", `.a\2eb/dovecot-uidlist`, ".Entw&APw-rfe/cur"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("export: %v", err)
		}
	}
	// File names carry the flags, mtimes the INTERNALDATE.
	entries, err := os.ReadDir(filepath.Join(dir, "cur"))
	if err != nil {
		t.Fatal(err)
	}
	corpus := testCorpus()
	if len(entries) != len(corpus) {
		t.Fatalf("cur has %d files", len(entries))
	}
	sawInfo := map[string]bool{}
	for _, e := range entries {
		_, info := splitMaildirName(e.Name())
		sawInfo[info] = true
		fi, _ := e.Info()
		if !slices.ContainsFunc(corpus, func(c corpusMessage) bool { return c.date.Equal(fi.ModTime()) }) {
			t.Errorf("%s: mtime %v is no INTERNALDATE", e.Name(), fi.ModTime())
		}
	}
	for _, info := range []string{"2,", "2,S", "2,PRSa", "2,Fbc", "2,D", "2,ST", "2,cd"} {
		if !sawInfo[info] {
			t.Errorf("no file with info %q among %v", info, sawInfo)
		}
	}

	irep, err := Import(ctx, st, ImportOptions{Account: "bob", Format: FormatMaildir, Path: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	wantSubs, _ := st.Subscriptions(ctx, alice.ID)
	if irep.Messages != n || irep.Failed != 0 || irep.Subscribed != len(wantSubs) {
		t.Errorf("import report %+v", irep)
	}
	sameAccount(t, snapshot(t, st, "bob"), want)
	gotSubs, _ := st.Subscriptions(ctx, bob.ID)
	slices.Sort(wantSubs)
	slices.Sort(gotSubs)
	if !slices.Equal(gotSubs, wantSubs) {
		t.Errorf("subscriptions %q, want %q", gotSubs, wantSubs)
	}
	if _, ok := any(st).(UIDPreserver); ok {
		checkSameUIDs(t, st, "alice", "bob")
	}

	irep, err = Import(ctx, st, ImportOptions{Account: "bob", Format: FormatMaildir, Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if irep.Messages != 0 || irep.Skipped != n {
		t.Errorf("second import: %+v", irep)
	}
	sameAccount(t, snapshot(t, st, "bob"), want)

	// Copies that lost their mtimes still get the dates from the names.
	now := time.Now()
	filepathWalkFiles(t, dir, func(p string) { os.Chtimes(p, now, now) })
	// And a relative path works like an absolute one.
	mustCreateAccount(t, st, "carol")
	if _, err := Import(ctx, st, ImportOptions{Account: "carol", Format: FormatMaildir, Path: "./" + filepath.Base(dir)}); err != nil {
		t.Fatal(err)
	}
	sameAccount(t, snapshot(t, st, "carol"), want)
}

// checkSameUIDs compares UIDVALIDITY and UIDs of two accounts' mailboxes.
func checkSameUIDs(t *testing.T, st store.Store, a, b string) {
	t.Helper()
	ctx := context.Background()
	uids := func(account string) map[string]string {
		acct, err := st.Account(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		mbs, _ := st.Mailboxes(ctx, acct.ID)
		out := map[string]string{}
		for _, mb := range mbs {
			refs, _ := st.MessageRefs(ctx, acct.ID, mb.ID)
			if len(refs) == 0 {
				continue
			}
			s := fmt.Sprintf("V%d", mb.UIDValidity)
			for _, r := range refs {
				s += fmt.Sprintf(" %d", r.UID)
			}
			out[mb.Name] = s
		}
		return out
	}
	ua, ub := uids(a), uids(b)
	for name, want := range ua {
		if ub[name] != want {
			t.Errorf("%s: UIDs %q, want %q", name, ub[name], want)
		}
	}
}

func filepathWalkFiles(t *testing.T, dir string, fn func(string)) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && strings.Contains(p, string(filepath.Separator)+"cur"+string(filepath.Separator)) {
			fn(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
