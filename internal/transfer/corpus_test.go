package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
)

// corpusMessage is one generated test message with the state it gets.
type corpusMessage struct {
	name  string
	raw   string
	flags []string
	date  time.Time
}

// testCorpus builds messages covering what mail files make hard.
func testCorpus() []corpusMessage {
	hdr := func(subject string) string {
		return "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: " + subject +
			"\r\nDate: Mon, 02 Jan 2006 15:04:05 -0700\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n"
	}
	attachment := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", 40)
	msgs := []corpusMessage{
		{name: "plain", raw: hdr("plain") + "\r\nHello Bob.\r\n"},
		{name: "multipart", raw: hdr("with attachment") +
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
			"preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n" +
			"--b1\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\nContent-Disposition: attachment; filename=\"x.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			attachment + "--b1--\r\nepilogue\r\n"},
		{name: "8bit-headers", raw: "From: Jörg Müller <joerg@example.org>\r\nTo: bob@example.org\r\nSubject: Grüße aus Köln — 東京\r\n\r\nKörper mit Umlauten.\r\n"},
		{name: "from-lines", raw: hdr("from lines") + "\r\nFrom the start of a line.\r\n>From quoted once\r\n>>From quoted twice\r\nFrom\r\n\r\nFrom MAILER-DAEMON Mon Jan  2 15:04:05 2006\r\nend\r\n"},
		{name: "bare-lf", raw: "From: a@example.org\nSubject: bare LF\n\nline one\nline two\n"},
		{name: "nul", raw: hdr("nul bytes") + "\r\nbefore\x00after\r\n\x00\x00\r\n"},
		{name: "long-header", raw: hdr("long header") + "X-Long: " + strings.Repeat("abcdefghij", 10000) + "\r\n\r\nshort body\r\n"},
		{name: "nested", raw: hdr("nested") + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
			"--outer\r\nContent-Type: text/plain\r\n\r\nForwarded below.\r\n" +
			"--outer\r\nContent-Type: message/rfc822\r\n\r\n" + hdr("inner") + "\r\nFrom inside the inner message\r\n" +
			"--outer--\r\n"},
		{name: "bare-cr", raw: hdr("bare cr") + "\r\nline ending in CR\r\r\nnext\r\n"},
		{name: "empty-body", raw: hdr("empty body") + "\r\n"},
		{name: "meta-lookalike", raw: hdr("status in body") + "\r\nStatus: RO\r\nX-Keywords: none\r\n"},
	}
	flagSets := [][]string{
		nil,
		{store.FlagSeen},
		{store.FlagSeen, store.FlagAnswered, "$Forwarded"},
		{store.FlagFlagged, "$Junk", "work"},
		{store.FlagDraft},
		{store.FlagDeleted, store.FlagSeen},
		{"work", "$Label1"},
	}
	base := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range msgs {
		msgs[i].flags = flagSets[i%len(flagSets)]
		msgs[i].date = base.Add(time.Duration(i) * 37 * time.Hour)
	}
	return msgs
}

// openStore opens a fresh embedded store.
func openStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustCreateAccount(t testing.TB, st store.Store, name string) store.Account {
	t.Helper()
	a, err := st.CreateAccount(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// seedMailbox appends messages to mailbox (created when missing).
func seedMailbox(t testing.TB, st store.Store, acct store.Account, mailbox string, msgs []corpusMessage) {
	t.Helper()
	ctx := context.Background()
	mb, err := st.Mailbox(ctx, acct.ID, mailbox)
	if err != nil {
		mb, err = st.CreateMailbox(ctx, acct.ID, mailbox, "")
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range msgs {
		staged, err := st.Stage(ctx, strings.NewReader(m.raw), 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := st.Append(ctx, []store.AppendRequest{{Account: acct.ID, Mailbox: mb.ID, Message: staged, Flags: m.flags, InternalDate: m.date}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("append %s: %v %v", m.name, err, res)
		}
	}
}

// seedAccount fills an account with the corpus over several mailboxes,
// with subscriptions.
func seedAccount(t testing.TB, st store.Store, name string) store.Account {
	t.Helper()
	acct := mustCreateAccount(t, st, name)
	c := testCorpus()
	seedMailbox(t, st, acct, "INBOX", c)
	seedMailbox(t, st, acct, "Sub/Folder", c[:4])
	seedMailbox(t, st, acct, "a.b", c[4:6])
	seedMailbox(t, st, acct, "Entwürfe", c[6:7])
	ctx := context.Background()
	for _, s := range []string{"INBOX", "Sub/Folder", "Entwürfe"} {
		if err := st.SetSubscribed(ctx, acct.ID, s, true); err != nil {
			t.Fatal(err)
		}
	}
	return acct
}

// messageState is what must survive a round trip.
type messageState struct {
	sha   string
	flags string
	date  int64
}

func (m messageState) String() string {
	return fmt.Sprintf("%s.. %s %s", m.sha[:12], m.flags, time.Unix(m.date, 0).UTC().Format(time.RFC3339))
}

// snapshot reads every non-empty mailbox of an account: name → messages
// in UID order, with the SHA-256 of the stored bytes.
func snapshot(t testing.TB, st store.Store, account string) map[string][]messageState {
	t.Helper()
	ctx := context.Background()
	acct, err := st.Account(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	mbs, err := st.Mailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]messageState)
	for _, mb := range mbs {
		refs, err := st.MessageRefs(ctx, acct.ID, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		var uids []store.UID
		for _, r := range refs {
			uids = append(uids, r.UID)
		}
		if len(uids) == 0 {
			continue
		}
		err = st.Fetch(ctx, acct.ID, mb.ID, uids, store.FetchOptions{}, func(m *store.Message) error {
			body, err := st.OpenBody(ctx, m.BlobID)
			if err != nil {
				return err
			}
			defer body.Close()
			h := sha256.New()
			if _, err := io.Copy(h, body); err != nil {
				return err
			}
			flags := slices.Clone(m.Flags)
			for i := range flags {
				flags[i] = strings.ToLower(flags[i])
			}
			slices.Sort(flags)
			out[mb.Name] = append(out[mb.Name], messageState{sha: hex.EncodeToString(h.Sum(nil)), flags: strings.Join(flags, " "), date: m.InternalDate.Unix()})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sameMailbox compares two snapshots of one mailbox.
func sameMailbox(t testing.TB, what string, got, want []messageState) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: message %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func sameAccount(t testing.TB, got, want map[string][]messageState) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("mailboxes with mail: got %d %v, want %d", len(got), keys(got), len(want))
	}
	for name, w := range want {
		sameMailbox(t, name, got[name], w)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// recordingProgress keeps what Import and Export report.
type recordingProgress struct {
	starts            int
	totalMsgs, totalB int64
	msgs, bytes       int64
	done              int
}

func (p *recordingProgress) Start(m, b int64) { p.starts++; p.totalMsgs, p.totalB = m, b }
func (p *recordingProgress) Add(m, b int64)   { p.msgs += m; p.bytes += b }
func (p *recordingProgress) Done()            { p.done++ }
