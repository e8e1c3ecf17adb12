package imapserver

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPClient drives the server with go-imap v2's client, an
// independent implementation of the protocol.
func TestGoIMAPClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	var mu sync.Mutex
	var exists []uint32
	existsCh := make(chan struct{}, 10)
	c, err := imapclient.DialInsecure(ts.addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					mu.Lock()
					exists = append(exists, *d.NumMessages)
					mu.Unlock()
					existsCh <- struct{}{}
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapIMAP4rev2) || !c.Caps().Has(imap.CapMove) {
		t.Fatalf("caps %v", c.Caps())
	}
	if err := c.Create("Folder", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range list {
		found = found || l.Mailbox == "Folder"
	}
	if !found {
		t.Fatalf("Folder not listed: %+v", list)
	}
	for i := 1; i <= 3; i++ {
		msg := []byte(testMessage(i))
		ap := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
		ap.Write(msg)
		ap.Close()
		data, err := ap.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if data.UID != imap.UID(i) {
			t.Fatalf("append uid %d", data.UID)
		}
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 3 || sel.UIDNext != 4 {
		t.Fatalf("select %+v", sel)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[1].Envelope.Subject != "test message 2" || !bytes.Contains(msgs[2].BodySection[0].Bytes, []byte("Hello body 3")) {
		t.Fatalf("fetch %+v", msgs)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	sd, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.AllSeqNums(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("search %v", got)
	}
	cp, err := c.Copy(imap.SeqSetNum(1), "Folder").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cp.UIDValidity == 0 {
		t.Fatalf("copy %+v", cp)
	}
	if _, err := c.Move(imap.SeqSetNum(2), "Folder").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	expunged, err := c.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(expunged) != 1 || expunged[0] != 1 {
		t.Fatalf("expunge %v", expunged)
	}
	st, err := c.Status("Folder", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 {
		t.Fatalf("status %+v", st)
	}
	// IDLE woken by an append from another connection.
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	other := ts.login()
	other.appendMsg("INBOX", "", testMessage(9))
	select {
	case <-existsCh:
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	last := exists[len(exists)-1]
	mu.Unlock()
	if last != 2 {
		t.Fatalf("EXISTS %d, want 2", last)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}
