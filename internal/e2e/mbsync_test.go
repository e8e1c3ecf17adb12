package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// maildirMessage is one message file in a Maildir folder.
type maildirMessage struct {
	path  string
	flags string // the letters after ":2,", sorted
	body  []byte
}

// readMaildir returns a Maildir folder's messages by Message-ID.
func readMaildir(t *testing.T, dir string) map[string]maildirMessage {
	t.Helper()
	out := map[string]maildirMessage{}
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("Maildir %s: %v", dir, err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, sub, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			m := messageIDField.FindSubmatch(b)
			if m == nil {
				t.Fatalf("%s has no Message-ID", p)
			}
			id := string(m[1])
			if prev, dup := out[id]; dup {
				t.Fatalf("Maildir %s holds %s twice: %s and %s", dir, id, prev.path, p)
			}
			flags := ""
			if _, info, ok := strings.Cut(e.Name(), ":2,"); ok {
				flags = info
			}
			out[id] = maildirMessage{path: p, flags: flags, body: b}
		}
	}
	return out
}

// maildirFlags maps IMAP system flags to Maildir info letters; other flags
// (\Recent, keywords) have no letter here.
func maildirFlags(flags []imap.Flag) string {
	letters := map[imap.Flag]byte{imap.FlagDraft: 'D', imap.FlagFlagged: 'F', imap.FlagAnswered: 'R', imap.FlagSeen: 'S', imap.FlagDeleted: 'T'}
	var b []byte
	for _, f := range flags {
		for k, l := range letters {
			if strings.EqualFold(string(f), string(k)) {
				b = append(b, l)
			}
		}
	}
	slices.Sort(b)
	return string(b)
}

// stripTUID drops the "X-TUID:" header line mbsync adds to messages it
// copies (its own tracking id) from an LF-only message.
func stripTUID(b []byte) []byte {
	end := headerEnd(b)
	if end < 0 {
		return b
	}
	var out []byte
	for _, f := range headerLines(b[:end]) {
		if !strings.HasPrefix(strings.ToLower(f), "x-tuid:") {
			out = append(out, f+"\n"...)
		}
	}
	out = append(out, '\n')
	return append(out, b[end:]...)
}

// setMaildirFlags renames a message file to carry exactly flags.
func setMaildirFlags(t *testing.T, m maildirMessage, flags string) {
	t.Helper()
	dir, name := filepath.Split(m.path)
	base, _, _ := strings.Cut(name, ":2,")
	b := []byte(flags)
	slices.Sort(b)
	// A message with flags belongs in cur/.
	to := filepath.Join(filepath.Dir(filepath.Clean(dir)), "cur", base+":2,"+string(b))
	if err := os.Rename(m.path, to); err != nil {
		t.Fatal(err)
	}
}

// TestMbsync syncs a 20-message INBOX (and the account's other mailboxes)
// to a local Maildir with mbsync, changes flags, deletes and adds messages
// on both sides, syncs twice more and checks both sides agree; then a
// second round of changes on both sides and one sync, and again.
func TestMbsync(t *testing.T) {
	t.Parallel()
	mbsync := needTool(t, "mbsync", "isync")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const user, password = "syncer", "sync-password-1"
	addUser(t, data, user, password)
	srv := startServer(t, data, false)

	var msgs [][]byte
	for i := 0; i < 20; i++ {
		msgs = append(msgs, makeMessage(fmt.Sprintf("sync-%d", i), i*3))
	}
	deliverAll(t, srv.lmtp, user+"@localhost", msgs)

	local := filepath.Join(dir, "local")
	if err := os.MkdirAll(local, 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(srv.imap, ":")
	rc := fmt.Sprintf(`IMAPAccount acc
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN
Timeout 30

IMAPStore remote
Account acc

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Sync All
Create Both
Expunge Both
SyncState *
`, host, port, user, password, local, local)
	rcFile := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func(round int) {
		t.Helper()
		out, err := runTool(t, 2*time.Minute, []string{"HOME=" + dir}, mbsync, "-c", rcFile, "-V", "ch")
		if err != nil {
			t.Fatalf("mbsync round %d: %v\n%s", round, err, tail(out, 12000))
		}
	}

	c := dialIMAP(t, srv.imap, user, password, nil)
	remoteInbox := func() map[string]storedMessage { return remoteByID(t, c, "INBOX") }

	// Round 1: pull everything.
	sync(1)
	remote := remoteInbox()
	near := readMaildir(t, filepath.Join(local, "INBOX"))
	if len(near) != 20 || len(remote) != 20 {
		t.Fatalf("after the first sync: %d local, %d remote messages; want 20", len(near), len(remote))
	}
	for id, r := range remote {
		l, ok := near[id]
		if !ok {
			t.Fatalf("%s not synced to the Maildir", id)
		}
		// mbsync stores LF line ends in the Maildir and inserts its own
		// X-TUID: tracking line at the end of the header; with that line
		// dropped, the file must be the stored message.
		if !bytes.Equal(stripTUID(l.body), crlfToLF(r.body)) {
			t.Fatalf("%s in the Maildir differs from the stored message:\n%q\n%q", id, l.body, r.body)
		}
	}
	for _, box := range []string{"Drafts", "Sent", "Trash", "Junk", "Archive"} {
		if fi, err := os.Stat(filepath.Join(local, box, "cur")); err != nil || !fi.IsDir() {
			t.Errorf("mailbox %s not created locally: %v", box, err)
		}
	}

	// Changes on the server: flags on sync-0, -1, -3; sync-2 expunged; a
	// new delivery.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	uidOf := func(id string) imap.UID { return remote[id+"@e2e.test"].uid }
	storeFlags := func(id string, f imap.Flag) {
		t.Helper()
		if err := c.Store(imap.UIDSetNum(uidOf(id)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{f}}, nil).Close(); err != nil {
			t.Fatalf("UID STORE %s +%s: %v", id, f, err)
		}
	}
	storeFlags("sync-0", imap.FlagFlagged)
	storeFlags("sync-1", imap.FlagSeen)
	storeFlags("sync-3", imap.FlagAnswered)
	storeFlags("sync-2", imap.FlagDeleted)
	if err := c.UIDExpunge(imap.UIDSetNum(uidOf("sync-2"))).Close(); err != nil {
		t.Fatalf("UID EXPUNGE: %v", err)
	}
	deliverAll(t, srv.lmtp, user+"@localhost", [][]byte{makeMessage("sync-remote-new", 5)})

	// Changes in the Maildir: flags on sync-4 and -5, sync-6 deleted,
	// sync-7 trashed (T), a new message, and a new folder with a message.
	setMaildirFlags(t, near["sync-4@e2e.test"], near["sync-4@e2e.test"].flags+"F")
	setMaildirFlags(t, near["sync-5@e2e.test"], near["sync-5@e2e.test"].flags+"S")
	if err := os.Remove(near["sync-6@e2e.test"].path); err != nil {
		t.Fatal(err)
	}
	setMaildirFlags(t, near["sync-7@e2e.test"], near["sync-7@e2e.test"].flags+"T")
	localNew := crlfToLF(makeMessage("sync-local-new", 9))
	if err := os.WriteFile(filepath.Join(local, "INBOX", "new", "1795000000.e2elocal1.host"), localNew, 0o600); err != nil {
		t.Fatal(err)
	}
	newBox := filepath.Join(local, "LocalNew")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(newBox, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(newBox, "cur", "1795000001.e2elocal2.host:2,S"), crlfToLF(makeMessage("sync-folder-new", 2)), 0o600); err != nil {
		t.Fatal(err)
	}

	sync(2)
	sync(3)

	want := map[string]string{ // Message-ID → Maildir flag letters
		"sync-0@e2e.test": "F", "sync-1@e2e.test": "S", "sync-3@e2e.test": "R",
		"sync-4@e2e.test": "F", "sync-5@e2e.test": "S",
		"sync-remote-new@e2e.test": "", "sync-local-new@e2e.test": "",
	}
	for i := 8; i < 20; i++ {
		want[fmt.Sprintf("sync-%d@e2e.test", i)] = ""
	}
	agree := func(after string, want map[string]string) {
		t.Helper()
		remote, near = syncAgree(t, c, filepath.Join(local, "INBOX"), after, want, stripTUID)
	}
	agree("two more syncs", want)
	// The message written locally reached the server with its body.
	if r := remote["sync-local-new@e2e.test"]; !bytes.HasSuffix(crlfToLF(r.body), localNew[headerEnd(localNew):]) {
		t.Fatalf("sync-local-new on the server has another body: %q", r.body)
	}

	// The folder created locally exists on the server with its message.
	newOnServer := fetchStored(t, c, "LocalNew", false)
	if len(newOnServer) != 1 || newOnServer[0].messageID != "sync-folder-new@e2e.test" || maildirFlags(newOnServer[0].flags) != "S" {
		t.Fatalf("LocalNew on the server: %+v", newOnServer)
	}
	// Round 2 of changes on both sides, then one sync. Server: sync-8
	// flagged, \Seen taken off sync-1, sync-9 expunged, a new delivery.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	storeFlags("sync-8", imap.FlagFlagged)
	if err := c.Store(imap.UIDSetNum(uidOf("sync-1")), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatalf("UID STORE sync-1 -\\Seen: %v", err)
	}
	storeFlags("sync-9", imap.FlagDeleted)
	if err := c.UIDExpunge(imap.UIDSetNum(uidOf("sync-9"))).Close(); err != nil {
		t.Fatalf("UID EXPUNGE: %v", err)
	}
	deliverAll(t, srv.lmtp, user+"@localhost", [][]byte{makeMessage("sync-remote-new2", 4)})
	// Maildir: sync-4 also seen and sync-10 answered (renames), sync-11
	// deleted, a new file.
	setMaildirFlags(t, near["sync-4@e2e.test"], near["sync-4@e2e.test"].flags+"S")
	setMaildirFlags(t, near["sync-10@e2e.test"], near["sync-10@e2e.test"].flags+"R")
	if err := os.Remove(near["sync-11@e2e.test"].path); err != nil {
		t.Fatal(err)
	}
	localNew2 := crlfToLF(makeMessage("sync-local-new2", 7))
	if err := os.WriteFile(filepath.Join(local, "INBOX", "new", "1795000002.e2elocal3.host"), localNew2, 0o600); err != nil {
		t.Fatal(err)
	}

	sync(4)
	want["sync-8@e2e.test"] = "F"
	want["sync-1@e2e.test"] = ""
	delete(want, "sync-9@e2e.test")
	want["sync-remote-new2@e2e.test"] = ""
	want["sync-4@e2e.test"] = "FS"
	want["sync-10@e2e.test"] = "R"
	delete(want, "sync-11@e2e.test")
	want["sync-local-new2@e2e.test"] = ""
	agree("the second round of changes", want)
	if r := remote["sync-local-new2@e2e.test"]; !bytes.HasSuffix(crlfToLF(r.body), localNew2[headerEnd(localNew2):]) {
		t.Fatalf("sync-local-new2 on the server has another body: %q", r.body)
	}

	c.Logout().Wait()
	srv.stop()
	mustCheck(t, data)
}

// remoteByID returns a server mailbox's messages (with bodies) by
// Message-ID.
func remoteByID(t *testing.T, c *imapclient.Client, mailbox string) map[string]storedMessage {
	t.Helper()
	out := map[string]storedMessage{}
	for _, m := range fetchStored(t, c, mailbox, true) {
		if _, dup := out[m.messageID]; dup {
			t.Fatalf("server %s holds %s twice", mailbox, m.messageID)
		}
		out[m.messageID] = m
	}
	return out
}

// syncAgree checks, after a sync tool ran, that the server's INBOX and the
// Maildir folder dir hold exactly the messages of want (Message-ID →
// Maildir flag letters), with those flags on both sides and the same
// bodies (LF line ends, and norm removing what the tool adds to a file);
// it returns both sides.
func syncAgree(t *testing.T, c *imapclient.Client, dir, after string, want map[string]string, norm func([]byte) []byte) (map[string]storedMessage, map[string]maildirMessage) {
	t.Helper()
	remote := remoteByID(t, c, "INBOX")
	near := readMaildir(t, dir)
	var diffs []string
	for id, flags := range want {
		r, rok := remote[id]
		l, lok := near[id]
		switch {
		case !rok || !lok:
			diffs = append(diffs, fmt.Sprintf("%s: on server %v, in Maildir %v", id, rok, lok))
		case maildirFlags(r.flags) != flags || l.flags != flags:
			diffs = append(diffs, fmt.Sprintf("%s: server flags %v, Maildir flags %q, want %q", id, r.flags, l.flags, flags))
		case !bytes.Equal(norm(crlfToLF(l.body)), norm(crlfToLF(r.body))):
			diffs = append(diffs, fmt.Sprintf("%s: bodies differ:\n%q\n%q", id, l.body, r.body))
		}
	}
	for id := range remote {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s still on the server", id))
		}
	}
	for id, l := range near {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s still in the Maildir (%s)", id, l.path))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("server and Maildir disagree after %s:\n%s", after, strings.Join(diffs, "\n"))
	}
	return remote, near
}
