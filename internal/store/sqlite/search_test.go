package sqlite

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
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
