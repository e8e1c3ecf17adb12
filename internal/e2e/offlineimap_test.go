package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestOfflineIMAP syncs a 20-message INBOX (and the account's other
// mailboxes) to a local Maildir with OfflineIMAP (offlineimap3), changes
// flags, deletes and adds messages on both sides and syncs until both
// sides agree; then a second round of changes on both sides. OfflineIMAP
// relies on UIDPLUS (APPENDUID) to learn the UID of what it uploads, and
// on UID FETCH of flags to find changes on the server.
func TestOfflineIMAP(t *testing.T) {
	t.Parallel()
	oi := needTool(t, "offlineimap", "offlineimap3")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const user, password = "offline", "offline-password-1"
	addUser(t, data, user, password)
	srv := startServer(t, data, false)

	var msgs [][]byte
	for i := 0; i < 20; i++ {
		msgs = append(msgs, makeMessage(fmt.Sprintf("oi-%d", i), i*3))
	}
	deliverAll(t, srv.lmtp, user+"@localhost", msgs)

	local := filepath.Join(dir, "local")
	host, port, _ := strings.Cut(srv.imap, ":")
	rc := fmt.Sprintf(`[general]
accounts = acc
metadata = %s/meta
ui = basic

[Account acc]
localrepository = near
remoterepository = far

[Repository near]
type = Maildir
localfolders = %s

[Repository far]
type = IMAP
remotehost = %s
remoteport = %s
remoteuser = %s
remotepass = %s
ssl = no
starttls = no
`, dir, local, host, port, user, password)
	rcFile := filepath.Join(dir, "offlineimaprc")
	if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func(round int) {
		t.Helper()
		// -o: one sync and exit; -u basic: plain log lines.
		out, err := runTool(t, 2*time.Minute, []string{"HOME=" + dir}, oi, "-c", rcFile, "-o", "-u", "basic")
		if err != nil || strings.Contains(out, "ERROR") {
			t.Fatalf("offlineimap round %d: %v\n%s", round, err, tail(out, 12000))
		}
	}

	c := dialIMAP(t, srv.imap, user, password, nil)
	same := func(b []byte) []byte { return b }
	want := map[string]string{} // Message-ID → Maildir flag letters
	for i := 0; i < 20; i++ {
		want[fmt.Sprintf("oi-%d@e2e.test", i)] = ""
	}

	// Round 1: pull everything.
	sync(1)
	remote, near := syncAgree(t, c, filepath.Join(local, "INBOX"), "the first sync", want, same)
	for _, box := range []string{"Drafts", "Sent", "Trash", "Junk", "Archive"} {
		if fi, err := os.Stat(filepath.Join(local, box, "cur")); err != nil || !fi.IsDir() {
			t.Errorf("mailbox %s not created locally: %v", box, err)
		}
	}

	// Changes on the server: flags on oi-0, -1, -3; oi-2 expunged; a new
	// delivery.
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
	storeFlags("oi-0", imap.StoreFlagsAdd, imap.FlagFlagged)
	storeFlags("oi-1", imap.StoreFlagsAdd, imap.FlagSeen)
	storeFlags("oi-3", imap.StoreFlagsAdd, imap.FlagAnswered)
	expunge("oi-2")
	deliverAll(t, srv.lmtp, user+"@localhost", [][]byte{makeMessage("oi-remote-new", 5)})

	// Changes in the Maildir: flags on oi-4 and -5, oi-6 deleted, a new
	// message, and a new folder with a message.
	setMaildirFlags(t, near["oi-4@e2e.test"], near["oi-4@e2e.test"].flags+"F")
	setMaildirFlags(t, near["oi-5@e2e.test"], near["oi-5@e2e.test"].flags+"S")
	if err := os.Remove(near["oi-6@e2e.test"].path); err != nil {
		t.Fatal(err)
	}
	localNew := crlfToLF(makeMessage("oi-local-new", 9))
	if err := os.WriteFile(filepath.Join(local, "INBOX", "new", "1795000000.e2elocal1.host"), localNew, 0o600); err != nil {
		t.Fatal(err)
	}
	newBox := filepath.Join(local, "LocalNew")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(newBox, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(newBox, "cur", "1795000001.e2elocal2.host:2,S"), crlfToLF(makeMessage("oi-folder-new", 2)), 0o600); err != nil {
		t.Fatal(err)
	}

	sync(2)
	sync(3)
	for id, flags := range map[string]string{"oi-0": "F", "oi-1": "S", "oi-3": "R", "oi-4": "F", "oi-5": "S", "oi-remote-new": "", "oi-local-new": ""} {
		want[id+"@e2e.test"] = flags
	}
	delete(want, "oi-2@e2e.test")
	delete(want, "oi-6@e2e.test")
	remote, near = syncAgree(t, c, filepath.Join(local, "INBOX"), "two more syncs", want, same)
	// The message written locally reached the server with its body.
	if r := remote["oi-local-new@e2e.test"]; !bytes.HasSuffix(crlfToLF(r.body), localNew[headerEnd(localNew):]) {
		t.Fatalf("oi-local-new on the server has another body: %q", r.body)
	}
	// The folder created locally exists on the server with its message.
	newOnServer := fetchStored(t, c, "LocalNew", false)
	if len(newOnServer) != 1 || newOnServer[0].messageID != "oi-folder-new@e2e.test" || maildirFlags(newOnServer[0].flags) != "S" {
		t.Fatalf("LocalNew on the server: %+v", newOnServer)
	}

	// Round 2 of changes on both sides, then one sync. Server: oi-8
	// flagged, \Seen taken off oi-1, oi-9 expunged, a new delivery.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	storeFlags("oi-8", imap.StoreFlagsAdd, imap.FlagFlagged)
	storeFlags("oi-1", imap.StoreFlagsDel, imap.FlagSeen)
	expunge("oi-9")
	deliverAll(t, srv.lmtp, user+"@localhost", [][]byte{makeMessage("oi-remote-new2", 4)})
	// Maildir: oi-4 also seen and oi-10 answered (renames), oi-11
	// deleted, a new file.
	setMaildirFlags(t, near["oi-4@e2e.test"], near["oi-4@e2e.test"].flags+"S")
	setMaildirFlags(t, near["oi-10@e2e.test"], near["oi-10@e2e.test"].flags+"R")
	if err := os.Remove(near["oi-11@e2e.test"].path); err != nil {
		t.Fatal(err)
	}
	localNew2 := crlfToLF(makeMessage("oi-local-new2", 7))
	if err := os.WriteFile(filepath.Join(local, "INBOX", "new", "1795000002.e2elocal3.host"), localNew2, 0o600); err != nil {
		t.Fatal(err)
	}

	sync(4)
	for id, flags := range map[string]string{"oi-8": "F", "oi-1": "", "oi-remote-new2": "", "oi-4": "FS", "oi-10": "R", "oi-local-new2": ""} {
		want[id+"@e2e.test"] = flags
	}
	delete(want, "oi-9@e2e.test")
	delete(want, "oi-11@e2e.test")
	remote, _ = syncAgree(t, c, filepath.Join(local, "INBOX"), "the second round of changes", want, same)
	if r := remote["oi-local-new2@e2e.test"]; !bytes.HasSuffix(crlfToLF(r.body), localNew2[headerEnd(localNew2):]) {
		t.Fatalf("oi-local-new2 on the server has another body: %q", r.body)
	}

	c.Logout().Wait()
	srv.stop()
	mustCheck(t, data)
}
