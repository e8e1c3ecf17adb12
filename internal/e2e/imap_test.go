package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestIMAPPython runs testdata/imap_python.py (imaplib) against a freshly
// started demo server; the script asserts every step itself.
func TestIMAPPython(t *testing.T) {
	t.Parallel()
	needPython(t)
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data, true)
	_, imapPort, _ := strings.Cut(srv.imap, ":")
	_, lmtpPort, _ := strings.Cut(srv.lmtp, ":")
	out, err := runTool(t, 2*time.Minute, nil, "python3", "testdata/imap_python.py", "127.0.0.1", imapPort, lmtpPort, "demo", srv.password)
	if err != nil || !strings.Contains(out, "ALL STEPS PASSED") {
		t.Fatalf("imaplib session failed: %v\n%s", err, tail(out, 12000))
	}
	t.Log(lastLine(out))
	srv.stop()
	mustCheck(t, data)
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// multipartWithAttachment returns a multipart/mixed message whose second
// part is a base64 attachment, and that part's encoded body as BODY[2]
// must return it (RFC 3501 §6.4.5: the part's content without its MIME
// header; the CRLF before the boundary belongs to the boundary).
func multipartWithAttachment() (msg, part2, raw []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	raw = make([]byte, 5000)
	for i := range raw {
		raw[i] = byte(r.UintN(256))
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)
	part2 = []byte(strings.Join(lines, "\r\n"))
	var b bytes.Buffer
	b.WriteString("From: Bob <bob@example.org>\r\nTo: demo@localhost\r\nSubject: with attachment\r\n" +
		"Date: Wed, 25 Nov 2026 10:02:00 +0000\r\nMessage-ID: <go-imap-2@e2e.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\npreamble\r\n--XyZ\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\nSee the attached file.\r\n--XyZ\r\n" +
		"Content-Type: image/png; name=\"pic.png\"\r\nContent-Disposition: attachment; filename=\"pic.png\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	b.Write(part2)
	b.WriteString("\r\n--XyZ--\r\n")
	return b.Bytes(), part2, raw
}

func plainMessage(n int, subject, from string) []byte {
	return fmt.Appendf(nil, "From: %s\r\nTo: demo@localhost\r\nSubject: %s\r\n"+
		"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <go-imap-%d@e2e.test>\r\n\r\n"+
		"Plain message number %d.\r\n", from, subject, n, n)
}

// TestIMAPGoClient runs the same sequence as TestIMAPPython with go-imap
// v2's client, an independent implementation.
func TestIMAPGoClient(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data, true)

	existsCh := make(chan uint32, 16)
	c := dialIMAP(t, srv.imap, "demo", srv.password, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case existsCh <- *d.NumMessages:
					default:
					}
				}
			},
		},
	})
	caps := c.Caps()
	for _, cp := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIdle, imap.CapMove, imap.CapUIDPlus} {
		if !caps.Has(cp) {
			t.Errorf("capability %s missing: %v", cp, caps)
		}
	}

	// CREATE
	for _, name := range []string{"E2E", "Dest"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	if err := c.Create("E2E", nil).Wait(); err == nil {
		t.Errorf("CREATE of an existing mailbox succeeded")
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	if !slices.Contains(names, "E2E") || !slices.Contains(names, "Dest") || !slices.Contains(names, "INBOX") {
		t.Fatalf("LIST: %v", names)
	}

	// APPEND three messages, the second multipart.
	multi, part2, raw := multipartWithAttachment()
	msgs := [][]byte{plainMessage(1, "first plain", "Alice <alice@example.org>"), multi, plainMessage(3, "third plain", "Carol <carol@example.org>")}
	for i, m := range msgs {
		opts := &imap.AppendOptions{}
		if i == 0 {
			opts.Flags = []imap.Flag{imap.FlagSeen}
		}
		ap := c.Append("E2E", int64(len(m)), opts)
		if _, err := ap.Write(m); err != nil {
			t.Fatalf("APPEND write: %v", err)
		}
		if err := ap.Close(); err != nil {
			t.Fatalf("APPEND close: %v", err)
		}
		res, err := ap.Wait()
		if err != nil {
			t.Fatalf("APPEND %d: %v", i+1, err)
		}
		if res.UID != imap.UID(i+1) || res.UIDValidity == 0 {
			t.Fatalf("APPEND %d: APPENDUID %d %d, want UID %d", i+1, res.UIDValidity, res.UID, i+1)
		}
	}

	// SELECT
	sel, err := c.Select("E2E", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	if sel.NumMessages != 3 || sel.UIDNext != 4 {
		t.Fatalf("SELECT E2E: %d messages, UIDNEXT %d; want 3, 4", sel.NumMessages, sel.UIDNext)
	}

	// FETCH BODYSTRUCTURE and BODY[2]
	sec2 := &imap.FetchItemBodySection{Part: []int{2}}
	fm, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		RFC822Size:    true,
		Flags:         true,
		BodySection:   []*imap.FetchItemBodySection{sec2},
	}).Collect()
	if err != nil || len(fm) != 1 {
		t.Fatalf("FETCH 2 (BODYSTRUCTURE BODY[2]): %v, %d messages", err, len(fm))
	}
	mp, ok := fm[0].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok {
		t.Fatalf("BODYSTRUCTURE of the multipart: %#v", fm[0].BodyStructure)
	}
	if !strings.EqualFold(mp.Subtype, "mixed") || len(mp.Children) != 2 {
		t.Fatalf("BODYSTRUCTURE: subtype %q, %d children", mp.Subtype, len(mp.Children))
	}
	p1, ok1 := mp.Children[0].(*imap.BodyStructureSinglePart)
	p2, ok2 := mp.Children[1].(*imap.BodyStructureSinglePart)
	if !ok1 || !ok2 {
		t.Fatalf("BODYSTRUCTURE children: %#v", mp.Children)
	}
	if !strings.EqualFold(p1.Type, "text") || !strings.EqualFold(p1.Subtype, "plain") {
		t.Errorf("part 1 is %s/%s", p1.Type, p1.Subtype)
	}
	if !strings.EqualFold(p2.Type, "image") || !strings.EqualFold(p2.Subtype, "png") ||
		!strings.EqualFold(p2.Encoding, "base64") || p2.Size != uint32(len(part2)) || p2.Params["name"] != "pic.png" {
		t.Errorf("part 2: %s/%s encoding %s size %d (want %d) params %v", p2.Type, p2.Subtype, p2.Encoding, p2.Size, len(part2), p2.Params)
	}
	if p2.Extended == nil || p2.Extended.Disposition == nil || !strings.EqualFold(p2.Extended.Disposition.Value, "attachment") {
		t.Errorf("part 2 disposition: %+v", p2.Extended)
	}
	got := fm[0].FindBodySection(sec2)
	if !bytes.Equal(got, part2) {
		t.Fatalf("BODY[2]: %d bytes differ from the %d sent; starts %q", len(got), len(part2), got[:min(60, len(got))])
	}
	if dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(got), "\r\n", "")); err != nil || !bytes.Equal(dec, raw) {
		t.Fatalf("BODY[2] does not decode to the attachment: %v", err)
	}
	if fm[0].RFC822Size != int64(len(multi)) {
		t.Errorf("RFC822.SIZE %d, want %d", fm[0].RFC822Size, len(multi))
	}
	// The non-peek BODY[2] set \Seen (RFC 3501 §6.4.5).
	fl, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(fl) != 1 || !slices.Contains(fl[0].Flags, imap.FlagSeen) {
		t.Errorf("flags after FETCH BODY[2]: %v %+v", err, fl)
	}

	// SEARCH
	search := func(what string, crit *imap.SearchCriteria, want ...uint32) {
		t.Helper()
		d, err := c.Search(crit, nil).Wait()
		if err != nil {
			t.Fatalf("SEARCH %s: %v", what, err)
		}
		if got := d.AllSeqNums(); !slices.Equal(got, want) {
			t.Fatalf("SEARCH %s: %v, want %v", what, got, want)
		}
	}
	search("SUBJECT", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "attachment"}}}, 2)
	search("FROM carol", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "carol"}}}, 3)
	search("SEEN", &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, 1, 2)
	search("UNSEEN", &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, 3)
	search("BODY", &imap.SearchCriteria{Body: []string{"Plain message number"}}, 1, 3)

	// STORE
	st, err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Label1"}}, nil).Collect()
	if err != nil || len(st) != 1 || !slices.Contains(st[0].Flags, imap.FlagFlagged) || !slices.Contains(st[0].Flags, "$Label1") {
		t.Fatalf("STORE 3 +FLAGS: %v %+v", err, st)
	}
	search("FLAGGED", &imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, 3)

	// COPY
	cp, err := c.Copy(imap.SeqSetNum(1, 2), "Dest").Wait()
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	if cp.UIDValidity == 0 || len(cp.DestUIDs) == 0 {
		t.Errorf("COPY: no COPYUID: %+v", cp)
	}
	stat, err := c.Status("Dest", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || stat.NumMessages == nil || *stat.NumMessages != 2 {
		t.Fatalf("STATUS Dest after COPY: %v %+v", err, stat)
	}

	// MOVE (by UID)
	mv, err := c.Move(imap.UIDSetNum(3), "Dest").Wait()
	if err != nil {
		t.Fatalf("UID MOVE 3 Dest: %v", err)
	}
	if mv.UIDValidity == 0 {
		t.Errorf("MOVE: no COPYUID: %+v", mv)
	}
	search("ALL after MOVE", &imap.SearchCriteria{}, 1, 2)
	stat, err = c.Status("Dest", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || stat.NumMessages == nil || *stat.NumMessages != 3 {
		t.Fatalf("STATUS Dest after MOVE: %v %+v", err, stat)
	}

	// EXPUNGE
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatalf("STORE \\Deleted: %v", err)
	}
	exp, err := c.Expunge().Collect()
	if err != nil || !slices.Equal(exp, []uint32{1}) {
		t.Fatalf("EXPUNGE: %v, expunged %v, want [1]", err, exp)
	}
	left := fetchStored(t, c, "E2E", false)
	if len(left) != 1 || left[0].messageID != "go-imap-2@e2e.test" || left[0].uid != 2 {
		t.Fatalf("E2E after EXPUNGE: %+v", left)
	}
	dest := fetchStored(t, c, "Dest", false)
	var destIDs []string
	for _, m := range dest {
		destIDs = append(destIDs, m.messageID)
		if m.messageID == "go-imap-3@e2e.test" && (!slices.Contains(m.flags, imap.FlagFlagged) || !slices.Contains(m.flags, "$Label1")) {
			t.Errorf("MOVE lost flags: %v", m.flags)
		}
	}
	slices.Sort(destIDs)
	if !slices.Equal(destIDs, []string{"go-imap-1@e2e.test", "go-imap-2@e2e.test", "go-imap-3@e2e.test"}) {
		t.Fatalf("Dest holds %v", destIDs)
	}

	// IDLE woken by an LMTP delivery.
	sel, err = c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT INBOX: %v", err)
	}
	for len(existsCh) > 0 {
		<-existsCh
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	deliverAll(t, srv.lmtp, "demo@localhost", [][]byte{makeMessage("wakes-idle", 3)})
	select {
	case n := <-existsCh:
		if n != sel.NumMessages+1 {
			t.Errorf("EXISTS %d during IDLE, want %d", n, sel.NumMessages+1)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no EXISTS within 20s of an LMTP delivery during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatalf("IDLE DONE: %v", err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE end: %v", err)
	}
	inbox := fetchStored(t, c, "INBOX", false)
	if len(inbox) == 0 || inbox[len(inbox)-1].messageID != "wakes-idle@e2e.test" {
		t.Fatalf("INBOX after IDLE: %+v", inbox)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
	srv.stop()
	mustCheck(t, data)
}
