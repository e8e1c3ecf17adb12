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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Two-way synchronizing clients (mbsync, OfflineIMAP) against a real
// postern: one scenario, run by each client's test with its own sync
// command.

// syncCase is one synchronizing client's test set-up for syncScenario.
type syncCase struct {
	user, password string
	data           string // the server's data directory
	srv            *server
	local          string // the Maildir root the client syncs into
	// sync runs the client once; round numbers its calls for messages.
	sync func(round int)
	// norm removes from a message what the client adds to its copy.
	norm func([]byte) []byte
	// trashedStays: the client keeps a message marked T (trashed) in the
	// Maildir, as \Deleted on the server, instead of expunging it.
	trashedStays bool
}

// newSyncCase starts a server with user in a fresh directory dir and
// makes the empty Maildir root dir/local; the caller adds sync and norm.
func newSyncCase(t *testing.T, user, password string) (sc syncCase, dir string) {
	t.Helper()
	dir = t.TempDir()
	sc = syncCase{user: user, password: password, data: filepath.Join(dir, "data"), local: filepath.Join(dir, "local")}
	addUser(t, sc.data, user, password)
	sc.srv = startServer(t, sc.data, false)
	if err := os.MkdirAll(sc.local, 0o700); err != nil {
		t.Fatal(err)
	}
	return sc, dir
}

// syncScenario delivers 20 messages, syncs them into the Maildir, then
// changes flags, expunges and delivers on the server while changing
// flags, deleting, trashing (T) and adding messages and a folder in the
// Maildir, syncs twice and checks that both sides agree; then a second
// round of changes on both sides, one sync, and the check again.
func syncScenario(t *testing.T, sc syncCase) {
	var msgs [][]byte
	for i := 0; i < 20; i++ {
		msgs = append(msgs, makeMessage(fmt.Sprintf("sync-%d", i), i*3))
	}
	deliverAll(t, sc.srv.lmtp, sc.user+"@localhost", msgs)

	c := dialIMAP(t, sc.srv.imap, sc.user, sc.password, nil)
	inbox := filepath.Join(sc.local, "INBOX")
	want := map[string]string{} // Message-ID → Maildir flag letters
	for i := 0; i < 20; i++ {
		want[fmt.Sprintf("sync-%d@e2e.test", i)] = ""
	}
	// Round 1: pull everything.
	sc.sync(1)
	remote, near := syncAgree(t, c, inbox, "the first sync", want, sc.norm)
	for _, box := range []string{"Drafts", "Sent", "Trash", "Junk", "Archive"} {
		if fi, err := os.Stat(filepath.Join(sc.local, box, "cur")); err != nil || !fi.IsDir() {
			t.Errorf("mailbox %s not created locally: %v", box, err)
		}
	}

	// Changes on the server: flags on sync-0, -1, -3; sync-2 expunged; a
	// new delivery.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	uidOf := func(id string) imap.UID { return remote[id+"@e2e.test"].uid }
	storeFlags := func(id string, op imap.StoreFlagsOp, f imap.Flag) {
		t.Helper()
		if err := c.Store(imap.UIDSetNum(uidOf(id)), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{f}}, nil).Close(); err != nil {
			t.Fatalf("UID STORE %s %v %s: %v", id, op, f, err)
		}
	}
	expunge := func(id string) {
		t.Helper()
		storeFlags(id, imap.StoreFlagsAdd, imap.FlagDeleted)
		if err := c.UIDExpunge(imap.UIDSetNum(uidOf(id))).Close(); err != nil {
			t.Fatalf("UID EXPUNGE %s: %v", id, err)
		}
	}
	storeFlags("sync-0", imap.StoreFlagsAdd, imap.FlagFlagged)
	storeFlags("sync-1", imap.StoreFlagsAdd, imap.FlagSeen)
	storeFlags("sync-3", imap.StoreFlagsAdd, imap.FlagAnswered)
	expunge("sync-2")
	deliverAll(t, sc.srv.lmtp, sc.user+"@localhost", [][]byte{makeMessage("sync-remote-new", 5)})

	// Changes in the Maildir: flags on sync-4 and -5, sync-6 deleted,
	// sync-7 trashed (T), a new message, and a new folder with a message.
	setMaildirFlags(t, near["sync-4@e2e.test"], near["sync-4@e2e.test"].flags+"F")
	setMaildirFlags(t, near["sync-5@e2e.test"], near["sync-5@e2e.test"].flags+"S")
	if err := os.Remove(near["sync-6@e2e.test"].path); err != nil {
		t.Fatal(err)
	}
	setMaildirFlags(t, near["sync-7@e2e.test"], near["sync-7@e2e.test"].flags+"T")
	localNew := crlfToLF(makeMessage("sync-local-new", 9))
	if err := os.WriteFile(filepath.Join(inbox, "new", "1795000000.e2elocal1.host"), localNew, 0o600); err != nil {
		t.Fatal(err)
	}
	newBox := filepath.Join(sc.local, "LocalNew")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(newBox, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(newBox, "cur", "1795000001.e2elocal2.host:2,S"), crlfToLF(makeMessage("sync-folder-new", 2)), 0o600); err != nil {
		t.Fatal(err)
	}

	sc.sync(2)
	sc.sync(3)
	for id, flags := range map[string]string{"sync-0": "F", "sync-1": "S", "sync-3": "R", "sync-4": "F", "sync-5": "S", "sync-remote-new": "", "sync-local-new": ""} {
		want[id+"@e2e.test"] = flags
	}
	for _, id := range []string{"sync-2", "sync-6", "sync-7"} {
		delete(want, id+"@e2e.test")
	}
	if sc.trashedStays {
		want["sync-7@e2e.test"] = "T"
	}
	remote, near = syncAgree(t, c, inbox, "two more syncs", want, sc.norm)
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
	storeFlags("sync-8", imap.StoreFlagsAdd, imap.FlagFlagged)
	storeFlags("sync-1", imap.StoreFlagsDel, imap.FlagSeen)
	expunge("sync-9")
	deliverAll(t, sc.srv.lmtp, sc.user+"@localhost", [][]byte{makeMessage("sync-remote-new2", 4)})
	// Maildir: sync-4 also seen and sync-10 answered (renames), sync-11
	// deleted, a new file.
	setMaildirFlags(t, near["sync-4@e2e.test"], near["sync-4@e2e.test"].flags+"S")
	setMaildirFlags(t, near["sync-10@e2e.test"], near["sync-10@e2e.test"].flags+"R")
	if err := os.Remove(near["sync-11@e2e.test"].path); err != nil {
		t.Fatal(err)
	}
	localNew2 := crlfToLF(makeMessage("sync-local-new2", 7))
	if err := os.WriteFile(filepath.Join(inbox, "new", "1795000002.e2elocal3.host"), localNew2, 0o600); err != nil {
		t.Fatal(err)
	}

	sc.sync(4)
	if sc.trashedStays {
		// The sync's EXPUNGE (for sync-11) also removed sync-7, still
		// \Deleted on the server; the next sync removes it locally.
		sc.sync(5)
		delete(want, "sync-7@e2e.test")
	}
	for id, flags := range map[string]string{"sync-8": "F", "sync-1": "", "sync-remote-new2": "", "sync-4": "FS", "sync-10": "R", "sync-local-new2": ""} {
		want[id+"@e2e.test"] = flags
	}
	delete(want, "sync-9@e2e.test")
	delete(want, "sync-11@e2e.test")
	remote, _ = syncAgree(t, c, inbox, "the second round of changes", want, sc.norm)
	if r := remote["sync-local-new2@e2e.test"]; !bytes.HasSuffix(crlfToLF(r.body), localNew2[headerEnd(localNew2):]) {
		t.Fatalf("sync-local-new2 on the server has another body: %q", r.body)
	}

	c.Logout().Wait()
	sc.srv.stop()
	mustCheck(t, sc.data)
}

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
