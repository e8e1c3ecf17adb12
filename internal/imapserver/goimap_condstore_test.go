package imapserver

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPCondstore drives CONDSTORE with go-imap v2's client (it has no
// QRESYNC support): SELECT (CONDSTORE), FETCH CHANGEDSINCE with MODSEQ,
// STORE UNCHANGEDSINCE, SEARCH MODSEQ and STATUS HIGHESTMODSEQ, while a
// second connection changes flags.
func TestGoIMAPCondstore(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw := filled(t, ts, 3)
	c, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapCondStore) || !c.Caps().Has(imap.CapQResync) {
		t.Fatalf("caps %v", c.Caps())
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.HighestModSeq == 0 || sel.NumMessages != 3 {
		t.Fatalf("select: %+v", sel)
	}
	raw.ok(`STORE 3 +FLAGS.SILENT (\Flagged)`)
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	msgs, err := c.Fetch(all, &imap.FetchOptions{Flags: true, ModSeq: true, UID: true, ChangedSince: sel.HighestModSeq}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].UID != 3 || msgs[0].ModSeq <= sel.HighestModSeq {
		t.Fatalf("changedsince: %+v", msgs)
	}
	flagged := false
	for _, f := range msgs[0].Flags {
		flagged = flagged || f == imap.FlagFlagged
	}
	if !flagged {
		t.Fatalf("flags %v", msgs[0].Flags)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.HighestModSeq != msgs[0].ModSeq {
		t.Fatalf("status highestmodseq %d, want %d", st.HighestModSeq, msgs[0].ModSeq)
	}
	sr, err := c.Search(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: sel.HighestModSeq + 1}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := sr.AllSeqNums(); len(got) != 1 || got[0] != 3 || sr.ModSeq != msgs[0].ModSeq {
		t.Fatalf("search modseq: %v %d", got, sr.ModSeq)
	}
	// A conditional store with the fresh mod-sequence succeeds; message 3
	// is not in the answer when its mod-sequence is stale.
	_, err = c.Store(imap.SeqSetNum(1, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}},
		&imap.StoreOptions{UnchangedSince: sel.HighestModSeq}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	u := raw.ok("FETCH 1:3 (FLAGS)")
	has(t, u, `* 1 FETCH (FLAGS (\Seen`)
	hasNot(t, u, `FLAGS (\Flagged \Seen`)
	hasNot(t, u, `FLAGS (\Seen \Flagged`)
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}
