package sqlite

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func TestAccountDefaults(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, _ := mustAccount(t, db, "Alice")
	if a.Name != "alice" {
		t.Fatalf("name %q", a.Name)
	}
	if _, err := db.CreateAccount(ctx, "ALICE"); !errors.Is(err, store.ErrAccountExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := db.Account(ctx, "nobody"); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("missing: %v", err)
	}
	mbs, err := db.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range mbs {
		got[m.Name] = m.SpecialUse
		if !m.Subscribed || m.UIDNext != 1 || m.UIDValidity == 0 || m.ObjectID == "" {
			t.Errorf("mailbox %+v", m)
		}
	}
	want := map[string]string{"INBOX": "", "Drafts": `\Drafts`, "Sent": `\Sent`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`}
	if len(got) != len(want) {
		t.Fatalf("mailboxes %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: special use %q want %q", k, got[k], v)
		}
	}
	if err := db.SetSecrets(ctx, a.ID, map[string]string{"argon2id": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, a.ID, "pop3_mailbox", "INBOX"); err != nil {
		t.Fatal(err)
	}
	a2, err := db.Account(ctx, "alice")
	if err != nil || a2.Secrets["argon2id"] != "x" || a2.Settings["pop3_mailbox"] != "INBOX" {
		t.Fatalf("account %+v %v", a2, err)
	}
	if err := db.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Mailboxes(ctx, a.ID); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestAppendFetch(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "bob")
	raw := testMessage("<m1@x>", "Hello", "body text\nbare lf line")
	r1 := deliver(t, db, a.ID, inbox.ID, raw, `\seen`, "$Label", `\Recent`)
	r2 := deliver(t, db, a.ID, inbox.ID, testMessage("<m2@x>", "Re: Hello", "reply", "In-Reply-To: <m1@x>"))
	if r1.UID != 1 || r2.UID != 2 || r2.ModSeq <= r1.ModSeq || r1.UIDValidity != inbox.UIDValidity {
		t.Fatalf("results %+v %+v", r1, r2)
	}
	var msgs []*store.Message
	err := db.Fetch(ctx, a.ID, inbox.ID, []store.UID{2, 1, 7}, store.FetchOptions{Envelope: true, BodyStructure: true, Structure: true, Headers: true, Preview: true}, func(m *store.Message) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].UID != 1 || msgs[1].UID != 2 {
		t.Fatalf("fetched %d", len(msgs))
	}
	m := msgs[0]
	if !slices.Equal(m.Flags, []string{`\Seen`, "$Label"}) {
		t.Errorf("flags %q", m.Flags)
	}
	if m.Headers.Subject != "Hello" || m.Headers.MessageID != "<m1@x>" || len(m.EnvelopeIMAP) == 0 || len(m.BodyStructureIMAP) == 0 || m.Structure == nil {
		t.Errorf("message %+v", m)
	}
	if m.EmailID == "" || m.ThreadID == "" || m.EmailID == msgs[1].EmailID {
		t.Errorf("ids %q %q", m.EmailID, msgs[1].EmailID)
	}
	if m.ThreadID != msgs[1].ThreadID {
		t.Errorf("reply not threaded: %q %q", m.ThreadID, msgs[1].ThreadID)
	}
	body, err := db.OpenBody(ctx, m.BlobID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if int64(len(b)) != m.Size || !containsCRLF(string(b)) {
		t.Errorf("body %q", b)
	}
	st, err := db.Status(ctx, a.ID, inbox.ID)
	if err != nil || st.Messages != 2 || st.Unseen != 1 || st.Recent != 2 || st.Size != m.Size+msgs[1].Size {
		t.Fatalf("status %+v %v", st, err)
	}
	if res, err := db.Append(ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("empty append %v %v", res, err)
	}
	if st.Messages != 2 {
		t.Fatalf("status %+v %v", st, err)
	}
	// INTERNALDATE keeps its instant and zone.
	date := time.Date(2020, 2, 29, 23, 59, 58, 0, time.FixedZone("", -7*3600))
	st3, _ := db.Stage(ctx, strings.NewReader(testMessage("<m3@x>", "dated", "b")), 0)
	res3, err := db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st3, InternalDate: date}})
	if err != nil || res3[0].Err != nil {
		t.Fatal(err)
	}
	m3 := fetchOne(t, db, a.ID, inbox.ID, res3[0].UID)
	if _, off := m3.InternalDate.Zone(); !m3.InternalDate.Equal(date) || off != -7*3600 || m3.SaveDate.IsZero() {
		t.Fatalf("internal date %v save date %v", m3.InternalDate, m3.SaveDate)
	}
	db.Expunge(ctx, a.ID, inbox.ID, []store.UID{res3[0].UID})

	// A claim covers only the UIDs the claimer knows.
	first, err := db.ClaimRecent(ctx, a.ID, inbox.ID, 1)
	if err != nil || first != 1 {
		t.Fatalf("claim %v %v", first, err)
	}
	first, err = db.ClaimRecent(ctx, a.ID, inbox.ID, 1)
	if err != nil || first != 2 {
		t.Fatalf("claim of nothing new %v %v", first, err)
	}
	first, _ = db.ClaimRecent(ctx, a.ID, inbox.ID, 100)
	if first != 2 {
		t.Fatalf("second claim %v", first)
	}
	first, _ = db.ClaimRecent(ctx, a.ID, inbox.ID, 100)
	if first != 4 {
		t.Fatalf("third claim %v", first)
	}
	mustClean(t, db)
}

func containsCRLF(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			return false
		}
	}
	return true
}

// TestThreadIDs: RFC 8474 THREADID links replies in either arrival order,
// within one account only.
func TestThreadIDs(t *testing.T) {
	db := openTest(t, "")
	a, inbox := mustAccount(t, db, "quinn")
	b, binbox := mustAccount(t, db, "rita")
	child := deliver(t, db, a.ID, inbox.ID, testMessage("<c@x>", "Re: p", "child", "References: <root@x> <p@x>"))
	parent := deliver(t, db, a.ID, inbox.ID, testMessage("<p@x>", "p", "parent"))
	other := deliver(t, db, a.ID, inbox.ID, testMessage("<o@x>", "o", "other"))
	grand := deliver(t, db, a.ID, inbox.ID, testMessage("<g@x>", "Re: Re: p", "grandchild", "In-Reply-To: <c@x>"))
	elsewhere := deliver(t, db, b.ID, binbox.ID, testMessage("<p@x>", "p", "parent"))
	tid := func(acct store.AccountID, mb store.MailboxID, r store.AppendResult) string {
		return fetchOne(t, db, acct, mb, r.UID).ThreadID
	}
	tc := tid(a.ID, inbox.ID, child)
	if tid(a.ID, inbox.ID, parent) != tc || tid(a.ID, inbox.ID, grand) != tc {
		t.Fatal("thread not joined")
	}
	if tid(a.ID, inbox.ID, other) == tc || tid(b.ID, binbox.ID, elsewhere) == tc {
		t.Fatal("unrelated message joined the thread")
	}
}
