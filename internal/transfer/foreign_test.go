package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

// writeTestFile writes a file (creating directories) with an mtime.
func writeTestFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// mailboxMessages returns a mailbox's messages: UID, flags (sorted, lower
// case), date and bytes.
type storedMessage struct {
	uid   store.UID
	flags string
	date  time.Time
	raw   string
}

func mailboxMessages(t *testing.T, st store.Store, account, mailbox string) (store.Mailbox, []storedMessage) {
	t.Helper()
	ctx := context.Background()
	acct, err := st.Account(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.Mailbox(ctx, acct.ID, mailbox)
	if err != nil {
		t.Fatalf("mailbox %q: %v", mailbox, err)
	}
	refs, _ := st.MessageRefs(ctx, acct.ID, mb.ID)
	var uids []store.UID
	for _, r := range refs {
		uids = append(uids, r.UID)
	}
	var out []storedMessage
	err = st.Fetch(ctx, acct.ID, mb.ID, uids, store.FetchOptions{}, func(m *store.Message) error {
		body, err := st.OpenBody(ctx, m.BlobID)
		if err != nil {
			return err
		}
		defer body.Close()
		raw := make([]byte, body.Size())
		if _, err := body.ReadAt(raw, 0); err != nil {
			return err
		}
		flags := slices.Clone(m.Flags)
		for i := range flags {
			flags[i] = strings.ToLower(flags[i])
		}
		slices.Sort(flags)
		out = append(out, storedMessage{uid: m.UID, flags: strings.Join(flags, " "), date: m.InternalDate, raw: string(raw)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mb, out
}

func TestImportDovecotMaildir(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acct := mustCreateAccount(t, st, "dave")
	root := filepath.Join(t.TempDir(), "Maildir")
	msg := func(subject string) string {
		return "From: x@example.org\nSubject: " + subject + "\n\nbody of " + subject + "\n"
	}
	t1 := time.Unix(1700000001, 0)
	writeTestFile(t, filepath.Join(root, "cur", "1700000001.M1P1.host,S=100,W=104:2,S"), msg("one"), t1)
	// An APPEND with an older date: mtime before the name's time.
	old := time.Date(2010, 5, 6, 7, 8, 9, 0, time.UTC)
	writeTestFile(t, filepath.Join(root, "cur", "1700000002.M2P1.host,S=100:2,RSab"), msg("two"), old)
	// A file copied without its mtime: the name's time is used.
	writeTestFile(t, filepath.Join(root, "new", "1700000003.M3P1.host"), msg("three"), time.Now())
	writeTestFile(t, filepath.Join(root, "new", "1700000004.M4P1.host"), msg("four (no uid)"), time.Unix(1700000004, 0))
	writeTestFile(t, filepath.Join(root, "tmp", "1700000005.M5P1.host"), msg("in tmp: not delivered"), time.Time{})
	writeTestFile(t, filepath.Join(root, "dovecot-uidlist"),
		"3 V1600000000 N12 G3085f01b7f3ea54f7d0a00006ac2cd51\n1 :1700000001.M1P1.host,S=100,W=104\n5 W200 :1700000002.M2P1.host,S=100\n9 :1700000003.M3P1.host\n", time.Time{})
	writeTestFile(t, filepath.Join(root, "dovecot-keywords"), "0 $Junk\n1 work\n", time.Time{})
	writeTestFile(t, filepath.Join(root, "subscriptions"), "V\t2\n\nINBOX\nSub\tFolder\nArchive\t2020\n", time.Time{})
	writeTestFile(t, filepath.Join(root, "dovecot.index.log"), "binary junk", time.Time{})
	// A Maildir++ folder and a plain nested one.
	writeTestFile(t, filepath.Join(root, ".Sub.Folder", "cur", "1700000010.M1P1.host:2,F"), msg("sub"), time.Unix(1700000010, 0))
	writeTestFile(t, filepath.Join(root, ".Sub.Folder", "maildirfolder"), "", time.Time{})
	writeTestFile(t, filepath.Join(root, ".Sub.Folder", "dovecot-uidlist"), "3 V1600000001 N3\n2 :1700000010.M1P1.host\n", time.Time{})
	writeTestFile(t, filepath.Join(root, ".Entw&APw-rfe", "cur", "1700000011.M1P1.host:2,D"), msg("draft"), time.Unix(1700000011, 0))
	writeTestFile(t, filepath.Join(root, "Archive", "2020", "cur", "1700000020.M1P1.host:2,T"), msg("archived"), time.Unix(1700000020, 0))
	os.MkdirAll(filepath.Join(root, "Archive", "2020", "new"), 0o700)

	prog := &recordingProgress{}
	rep, err := Import(ctx, st, ImportOptions{Account: "dave", Format: FormatMaildir, Path: root, Progress: prog, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 7 || rep.Failed != 0 || rep.Subscribed != 3 || prog.totalMsgs != 7 || prog.msgs != 7 {
		t.Errorf("report %+v progress %+v", rep, prog)
	}
	inbox, msgs := mailboxMessages(t, st, "dave", "INBOX")
	if len(msgs) != 4 {
		t.Fatalf("INBOX has %d messages", len(msgs))
	}
	wantFlags := []string{`\seen`, `$junk \answered \seen work`, "", ""}
	wantDates := []time.Time{t1, old, time.Unix(1700000003, 0), time.Unix(1700000004, 0)}
	for i, m := range msgs {
		if m.flags != wantFlags[i] || !m.date.Equal(wantDates[i]) {
			t.Errorf("INBOX message %d: flags %q date %v, want %q %v", i, m.flags, m.date, wantFlags[i], wantDates[i])
		}
		if !strings.Contains(m.raw, "\r\n\r\nbody of ") || strings.Contains(strings.ReplaceAll(m.raw, "\r\n", ""), "\n") {
			t.Errorf("message %d not stored with CRLF: %q", i, m.raw)
		}
	}
	if _, ok := any(st).(UIDPreserver); ok {
		if inbox.UIDValidity != 1600000000 || inbox.UIDNext < 12 {
			t.Errorf("INBOX UIDVALIDITY %d UIDNEXT %d, want 1600000000 and >= 12", inbox.UIDValidity, inbox.UIDNext)
		}
		var uids []store.UID
		for _, m := range msgs {
			uids = append(uids, m.uid)
		}
		if !slices.Equal(uids[:3], []store.UID{1, 5, 9}) || uids[3] < 12 {
			t.Errorf("UIDs %v, want 1 5 9 and one >= 12", uids)
		}
	} else {
		t.Log("store does not implement UIDPreserver: UIDs not checked")
	}
	for name, flags := range map[string]string{"Sub/Folder": `\flagged`, "Entwürfe": `\draft`, "Archive/2020": `\deleted`} {
		_, msgs := mailboxMessages(t, st, "dave", name)
		if len(msgs) != 1 || msgs[0].flags != flags {
			t.Errorf("%s: %+v, want one message with %q", name, msgs, flags)
		}
	}
	subs, _ := st.Subscriptions(ctx, acct.ID)
	for _, want := range []string{"INBOX", "Sub/Folder", "Archive/2020"} {
		if !slices.Contains(subs, want) {
			t.Errorf("subscriptions %q lack %q", subs, want)
		}
	}

	// A second run adds nothing.
	rep, err = Import(ctx, st, ImportOptions{Account: "dave", Format: FormatMaildir, Path: root})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 0 || rep.Skipped != 7 {
		t.Errorf("second import: %+v", rep)
	}
	if _, again := mailboxMessages(t, st, "dave", "INBOX"); len(again) != 4 {
		t.Errorf("INBOX has %d messages after the second import", len(again))
	}

	// Under a mailbox: the root becomes that mailbox, folders go below.
	rep, err = Import(ctx, st, ImportOptions{Account: "dave", Format: FormatMaildir, Path: root, Mailbox: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages != 7 {
		t.Errorf("import under Old: %+v", rep)
	}
	for _, name := range []string{"Old", "Old/Sub/Folder", "Old/Archive/2020"} {
		if _, msgs := mailboxMessages(t, st, "dave", name); len(msgs) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

func TestImportForeignMbox(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	mustCreateAccount(t, st, "erin")
	mbox := "From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n" +
		"Subject: from mutt\nStatus: RO\nX-Status: AF\nX-Keywords: work, $Junk\nContent-Length: 5\n\nbody\n\n" +
		"From someone@example.org Sat Jul  9 12:08:34 2011\n" +
		"X-Mozilla-Status: 1003\nX-Mozilla-Status2: 00000000\nX-Mozilla-Keys: $label1                 \n" +
		"Subject: from thunderbird\n\n>From escaped\n>>From double\n\n" +
		"From x Sun Jul 10 12:08:34 2011\nSubject: unread, unknown\n\nnothing\n"
	path := filepath.Join(t.TempDir(), "inbox")
	writeTestFile(t, path, mbox, time.Time{})

	rep, err := Import(ctx, st, ImportOptions{Account: "erin", Format: FormatMbox, Path: path, Mailbox: "RD"})
	if err != nil || rep.Messages != 3 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	_, msgs := mailboxMessages(t, st, "erin", "RD")
	want := []storedMessage{
		{flags: `$junk \answered \flagged \seen work`, date: time.Date(2011, 7, 8, 12, 8, 34, 0, time.UTC), raw: "Subject: from mutt\r\n\r\nbody\r\n"}, // Content-Length checked out: mutt's
		{flags: `$forwarded $label1 \answered \seen`, date: time.Date(2011, 7, 9, 12, 8, 34, 0, time.UTC), raw: "Subject: from thunderbird\r\n\r\nFrom escaped\r\n>From double\r\n"},
		{flags: "", date: time.Date(2011, 7, 10, 12, 8, 34, 0, time.UTC), raw: "Subject: unread, unknown\r\n\r\nnothing\r\n"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i := range want {
		if msgs[i].flags != want[i].flags || !msgs[i].date.Equal(want[i].date) || msgs[i].raw != want[i].raw {
			t.Errorf("message %d = %q %v %q\nwant %q %v %q", i, msgs[i].flags, msgs[i].date, msgs[i].raw, want[i].flags, want[i].date, want[i].raw)
		}
	}

	// mboxo keeps ">>From" as it is; KeepMetaHeaders keeps the fields.
	if _, err := Import(ctx, st, ImportOptions{Account: "erin", Format: FormatMbox, Path: path, Mailbox: "O", MboxVariant: MboxO, KeepMetaHeaders: true}); err != nil {
		t.Fatal(err)
	}
	_, msgs = mailboxMessages(t, st, "erin", "O")
	if len(msgs) != 3 || !strings.Contains(msgs[1].raw, "\r\nFrom escaped\r\n>>From double\r\n") || !strings.Contains(msgs[0].raw, "X-Status: AF\r\n") {
		t.Errorf("mboxo/keep: %+v", msgs)
	}
	if msgs[0].flags != want[0].flags {
		t.Errorf("flags with KeepMetaHeaders: %q", msgs[0].flags)
	}

	// A directory in Thunderbird's layout.
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Inbox"), mbox, time.Time{})
	writeTestFile(t, filepath.Join(dir, "Inbox.msf"), "// <!-- <mdb:mork:z v=\"1.4\"/> -->", time.Time{})
	writeTestFile(t, filepath.Join(dir, "Archives.sbd", "2011"), mbox, time.Time{})
	writeTestFile(t, filepath.Join(dir, "Archives"), "", time.Time{})
	mustCreateAccount(t, st, "frank")
	rep, err = Import(ctx, st, ImportOptions{Account: "frank", Format: FormatMbox, Path: dir})
	if err != nil || rep.Messages != 6 || rep.Mailboxes != 2 {
		t.Fatalf("thunderbird import: %+v %v", rep, err)
	}
	for _, name := range []string{"INBOX", "Archives/2011"} {
		if _, msgs := mailboxMessages(t, st, "frank", name); len(msgs) != 3 {
			t.Errorf("%s has %d messages", name, len(msgs))
		}
	}

	// Two identical messages in the source are both kept, once.
	dup := "From a Mon Jan  2 15:04:05 2006\nSubject: same\n\nx\n\nFrom a Mon Jan  2 15:04:05 2006\nSubject: same\n\nx\n"
	dupPath := filepath.Join(t.TempDir(), "dup")
	writeTestFile(t, dupPath, dup, time.Time{})
	for run := 0; run < 2; run++ {
		if _, err := Import(ctx, st, ImportOptions{Account: "frank", Format: FormatMbox, Path: dupPath, Mailbox: "Dup"}); err != nil {
			t.Fatal(err)
		}
		if _, msgs := mailboxMessages(t, st, "frank", "Dup"); len(msgs) != 2 {
			t.Errorf("run %d: Dup has %d messages, want 2", run, len(msgs))
		}
	}

	if _, err := Import(ctx, st, ImportOptions{Account: "nobody", Format: FormatMbox, Path: path}); err == nil {
		t.Error("import into a missing account succeeded")
	}
	notMbox := filepath.Join(t.TempDir(), "plain.txt")
	writeTestFile(t, notMbox, "just text\n", time.Time{})
	rep, err = Import(ctx, st, ImportOptions{Account: "frank", Format: FormatMbox, Path: notMbox, Mailbox: "X"})
	if !errors.Is(err, ErrNotMbox) || rep.Messages != 0 {
		t.Errorf("not an mbox: %+v %v", rep, err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Import(canceled, st, ImportOptions{Account: "frank", Format: FormatMbox, Path: dupPath, Mailbox: "Canceled"}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled import: %v", err)
	}
	if _, err := Import(ctx, st, ImportOptions{Account: "frank", Path: dupPath}); !errors.Is(err, ErrNoFormat) {
		t.Errorf("no format: %v", err)
	}
}

func TestImportLargeMessage(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	mustCreateAccount(t, st, "gina")
	big := "Subject: big\n\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", (spoolMemory/64)+5000)
	mbox := "From a Mon Jan  2 15:04:05 2006\n" + big + "\nFrom a Mon Jan  2 15:04:05 2006\nSubject: small\n\nx\n"
	path := filepath.Join(t.TempDir(), "big")
	writeTestFile(t, path, mbox, time.Time{})
	rep, err := Import(ctx, st, ImportOptions{Account: "gina", Format: FormatMbox, Path: path})
	if err != nil || rep.Messages != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	_, msgs := mailboxMessages(t, st, "gina", "INBOX")
	if len(msgs) != 2 || msgs[0].raw != strings.ReplaceAll(big, "\n", "\r\n") {
		t.Fatalf("big message changed: %d messages, first %d bytes", len(msgs), len(msgs[0].raw))
	}
	// Past MaxMessageSize a message fails alone.
	rep, err = Import(ctx, st, ImportOptions{Account: "gina", Format: FormatMbox, Path: path, Mailbox: "Limited", MaxMessageSize: 1 << 20})
	if err != nil || rep.Messages != 1 || rep.Failed != 1 {
		t.Fatalf("limited: %+v %v", rep, err)
	}
}
