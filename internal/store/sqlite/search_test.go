package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func TestSearchText(t *testing.T) {
	db, err := Open(context.Background(), t.TempDir(), Options{Logger: quietLogger(), NoIndexer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "lena")
	mime := func(ct, cte, body string) string {
		return "From: x@example.org\r\nSubject: Invoice 42\r\nMIME-Version: 1.0\r\nContent-Type: " + ct +
			"\r\nContent-Transfer-Encoding: " + cte + "\r\n\r\n" + body + "\r\n"
	}
	msgs := []string{
		testMessage("<1@x>", "plain", "The quick brown fox"),
		mime("text/plain; charset=utf-8", "base64", base64.StdEncoding.EncodeToString([]byte("Zebra crossing ahead"))),
		mime("text/plain; charset=utf-8", "quoted-printable", "caf=C3=A9 au lait"),
		mime("text/html", "7bit", "<html><body><p>Hello <b>World</b></p></body></html>"),
		"From: y@example.org\r\nSubject: multipart\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString([]byte("secret binary")) + "\r\n--b--\r\n",
	}
	for _, m := range msgs {
		deliver(t, db, a.ID, inbox.ID, m)
	}
	all := []store.UID{1, 2, 3, 4, 5, 6, 7}
	cases := []struct {
		needles     []string
		withHeaders bool
		want        []store.UID
	}{
		{[]string{"QUICK brown"}, false, []store.UID{1}},
		{[]string{"zebra"}, false, []store.UID{2}},
		{[]string{"CAFÉ"}, false, []store.UID{3}},
		{[]string{"world"}, false, []store.UID{4}},
		{[]string{"<b>"}, false, nil}, // markup is not text
		{[]string{"first part"}, false, []store.UID{5}},
		{[]string{"secret"}, false, nil}, // not a text part
		{[]string{"invoice"}, false, nil},
		{[]string{"invoice"}, true, []store.UID{2, 3, 4}},
		{[]string{"invoice", "zebra"}, true, []store.UID{2}},
		{[]string{"fo"}, false, []store.UID{1}}, // too short for trigrams: scanned
		{[]string{"ox"}, false, []store.UID{1}},
		{nil, false, []store.UID{1, 2, 3, 4, 5}},
	}
	run := func(phase string) {
		for _, c := range cases {
			got, err := db.SearchText(ctx, a.ID, inbox.ID, all, c.needles, c.withHeaders)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s: %q headers=%v: got %v want %v", phase, c.needles, c.withHeaders, got, c.want)
			}
		}
	}
	run("scan")
	if err := db.indexNow(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	db.rdb.QueryRow("SELECT count(*) FROM blob_text").Scan(&n)
	if n != len(msgs) {
		t.Fatalf("%d blobs indexed, want %d", n, len(msgs))
	}
	run("index")
	// A copy shares the index row of its blob.
	trash, _ := db.Mailbox(ctx, a.ID, "Trash")
	db.Copy(ctx, a.ID, inbox.ID, []store.UID{2}, trash.ID)
	got, _ := db.SearchText(ctx, a.ID, trash.ID, []store.UID{1}, []string{"crossing"}, false)
	if !slices.Equal(got, []store.UID{1}) {
		t.Fatalf("copy search %v", got)
	}
	// Dropping a blob's index rows (Check repair) works on the contentless
	// table; the message is then found by scanning.
	m := fetchOne(t, db, a.ID, inbox.ID, 2)
	if err := db.write(ctx, func(w *wtx) error { return w.dropBlobText(m.BlobID) }); err != nil {
		t.Fatal(err)
	}
	db.rdb.QueryRow("SELECT count(*) FROM blob_text").Scan(&n)
	if n != len(msgs)-1 {
		t.Fatalf("%d index rows after drop", n)
	}
	got, _ = db.SearchText(ctx, a.ID, inbox.ID, all, []string{"crossing"}, false)
	if !slices.Equal(got, []store.UID{2}) {
		t.Fatalf("search after unindex %v", got)
	}
}

func TestIndexerCatchesUp(t *testing.T) {
	db := openTest(t, "")
	a, inbox := mustAccount(t, db, "mona")
	for i := 0; i < 3; i++ {
		deliver(t, db, a.ID, inbox.ID, testMessage(fmt.Sprintf("<%d@i>", i), "s", fmt.Sprintf("word%d", i)))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		db.rdb.QueryRow("SELECT count(*) FROM blob_text").Scan(&n)
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexer indexed %d of 3", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := db.SearchText(context.Background(), a.ID, inbox.ID, []store.UID{1, 2, 3}, []string{"WORD1"}, false)
	if err != nil || !slices.Equal(got, []store.UID{2}) {
		t.Fatalf("search %v %v", got, err)
	}
}

// TestExpungeDropsText: the text of a message leaves the full-text index
// soon after its last message (expunge, mailbox delete, account delete:
// the indexer's dropGoneText), stays while a copy references it or when
// the same message is delivered again before the indexer runs, is never
// indexed after its message went, and Check removes text no message
// references that is not queued for removal.
func TestExpungeDropsText(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "norma")
	if _, err := db.CreateMailbox(ctx, a.ID, "Keep", ""); err != nil {
		t.Fatal(err)
	}
	keep, _ := db.Mailbox(ctx, a.ID, "Keep")
	words := []string{"alpacaword", "bisonword", "condorword"}
	for i, w := range words {
		deliver(t, db, a.ID, inbox.ID, testMessage(fmt.Sprintf("<%d@x>", i), "s", "text "+w))
	}
	if err := db.indexNow(ctx); err != nil {
		t.Fatal(err)
	}
	indexed := func() int {
		t.Helper()
		var n int
		if err := db.rdb.QueryRow("SELECT count(*) FROM blob_text").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	inFTS := func(word string) bool {
		t.Helper()
		var n int
		if err := db.rdb.QueryRow("SELECT count(*) FROM text_fts WHERE text_fts MATCH ?", `"`+word+`"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	if n := indexed(); n != 3 {
		t.Fatalf("%d indexed, want 3", n)
	}
	if _, _, _, err := db.Copy(ctx, a.ID, inbox.ID, []store.UID{2}, keep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, []store.UID{1, 2}); err != nil {
		t.Fatal(err)
	}
	drain := func() {
		t.Helper()
		if err := db.dropGoneText(ctx, false); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.rdb.QueryRow("SELECT count(*) FROM text_gone").Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d still queued (%v)", n, err)
		}
	}
	if n := indexed(); n != 3 {
		t.Fatalf("before the indexer ran: %d indexed, want 3", n)
	}
	drain()
	if n := indexed(); n != 2 || inFTS(words[0]) || !inFTS(words[1]) {
		t.Fatalf("after expunge: %d indexed, %s %v, %s %v", n, words[0], inFTS(words[0]), words[1], inFTS(words[1]))
	}
	if err := db.DeleteMailbox(ctx, a.ID, "Keep"); err != nil {
		t.Fatal(err)
	}
	drain()
	if n := indexed(); n != 1 || inFTS(words[1]) || !inFTS(words[2]) {
		t.Fatalf("after mailbox delete: %d indexed", n)
	}
	// Text read for a blob whose message goes before the write is not
	// indexed.
	if err := db.write(ctx, func(w *wtx) error {
		return w.indexDocs([]indexDoc{{blobID: "gone", header: "h", body: "dodoword"}})
	}); err != nil {
		t.Fatal(err)
	}
	if n := indexed(); n != 1 || inFTS("dodoword") {
		t.Fatalf("an unreferenced blob was indexed: %d", n)
	}
	// What expunges before the fix left behind: text without a message.
	if err := db.write(ctx, func(w *wtx) error {
		res, err := w.exec("INSERT INTO blob_text(blob_id) VALUES ('left-behind')")
		if err != nil {
			return err
		}
		id, _ := res.LastInsertId()
		_, err = w.exec("INSERT INTO text_fts(rowid, header, body) VALUES (?, 'h', 'emuword')", id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := db.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "text index") {
		t.Fatalf("check: %q", rep.Problems)
	}
	if rep, err = db.Check(ctx, true); err != nil || len(rep.Repaired) != 1 {
		t.Fatalf("repair: %q %v", rep.Repaired, err)
	}
	if n := indexed(); n != 1 || inFTS("emuword") {
		t.Fatalf("after repair: %d indexed", n)
	}
	mustClean(t, db)
	// Expunged, then the same message again before the indexer ran: the
	// text stays, for the new message.
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, []store.UID{3}); err != nil {
		t.Fatal(err)
	}
	deliver(t, db, a.ID, inbox.ID, testMessage("<2@x>", "s", "text "+words[2]))
	drain()
	if n := indexed(); n != 1 || !inFTS(words[2]) {
		t.Fatalf("after expunge and delivery again: %d indexed", n)
	}
	if err := db.DeleteAccount(ctx, "norma"); err != nil {
		t.Fatal(err)
	}
	drain()
	if n := indexed(); n != 0 || inFTS(words[2]) {
		t.Fatalf("after account delete: %d indexed", n)
	}
}

// TestTextGoneMigration: schema step 9 queues the text that expunges
// before it left in the index, and the indexer then removes it.
func TestTextGoneMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := openTest(t, dir)
	a, inbox := mustAccount(t, db, "olive")
	deliver(t, db, a.ID, inbox.ID, testMessage("<1@x>", "s", "text kiwiword"))
	deliver(t, db, a.ID, inbox.ID, testMessage("<2@x>", "s", "text lynxword"))
	if err := db.indexNow(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()

	raw, err := sql.Open("sqlite", filepath.Join(dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	undoTextGone(t, raw)
	// What an expunge of schema 8 did: the message row and its body went,
	// its text stayed.
	for _, q := range []string{
		"DELETE FROM bodies WHERE id = (SELECT blob_id FROM messages WHERE uid = 1)",
		"UPDATE accounts SET used_messages = used_messages - 1, used_bytes = used_bytes - (SELECT size FROM messages WHERE uid = 1)",
		"DELETE FROM messages WHERE uid = 1",
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db = openTest(t, dir)
	var queued int
	if err := db.rdb.QueryRow("SELECT count(*) FROM text_gone").Scan(&queued); err != nil || queued != 1 {
		t.Fatalf("%d queued by the migration (%v), want 1", queued, err)
	}
	if err := db.dropGoneText(ctx, false); err != nil {
		t.Fatal(err)
	}
	for word, want := range map[string]int{"kiwiword": 0, "lynxword": 1} {
		var n int
		if err := db.rdb.QueryRow("SELECT count(*) FROM text_fts WHERE text_fts MATCH ?", `"`+word+`"`).Scan(&n); err != nil || n != want {
			t.Fatalf("%s: %d in the index (%v), want %d", word, n, err, want)
		}
	}
	mustClean(t, db)
}
