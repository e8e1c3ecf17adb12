package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestMutt drives mutt, a terminal client, against a real postern: it
// opens INBOX over IMAP, reads one message, flags one, deletes one, saves
// one to Archive, syncs and quits; the test then checks the mailboxes with
// go-imap. mutt needs a terminal: it runs under script(1), which gives it
// a pseudo-terminal, with its keystrokes pushed from the command line, so
// nothing waits for a person. A prompt the keystrokes did not expect
// leaves mutt waiting, which the timeout turns into a failure.
func TestMutt(t *testing.T) {
	t.Parallel()
	mutt := needTool(t, "mutt", "mutt")
	script := needTool(t, "script", "bsdutils")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const user, password = "mutter", "mutt-password-1"
	addUser(t, data, user, password)
	srv := startServer(t, data, false)

	msgs := map[string][]byte{}
	var all [][]byte
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("mutt-%d", i)
		msgs[id+"@e2e.test"] = makeMessage(id, i*5)
		all = append(all, msgs[id+"@e2e.test"])
	}
	deliverAll(t, srv.lmtp, user+"@localhost", all)

	rc := fmt.Sprintf(`set folder = "imap://%s/"
set spoolfile = "+INBOX"
set imap_user = "%s"
set imap_pass = "%s"
set ssl_starttls = no
set ssl_force_tls = no
set header_cache = ""
set message_cachedir = ""
set record = ""
set move = no
set delete = yes
set confirmappend = no
set confirmcreate = no
set quit = yes
set wait_key = no
set beep = no
set sleep_time = 0
set mark_old = no
`, srv.imap, user, password)
	rcFile := filepath.Join(dir, "muttrc")
	if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	// What a person would type: read mutt-1, flag mutt-5, delete mutt-3,
	// save mutt-7 to Archive, sync ($) and quit.
	keys := strings.Join([]string{
		"<search>~i mutt-1@<enter><display-message><exit>",
		"<search>~i mutt-5@<enter><flag-message>",
		"<delete-pattern>~i mutt-3@<enter>",
		"<search>~i mutt-7@<enter><save-message><kill-line>=Archive<enter>",
		"<sync-mailbox><quit>",
	}, "")
	run := fmt.Sprintf("stty rows 40 cols 120\nexec %s -n -F %s -f =INBOX -e 'push \"%s\"'\n", mutt, rcFile, keys)
	runFile := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(runFile, []byte(run), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, time.Minute, []string{"HOME=" + dir, "TERM=vt100"}, script, "-qec", "sh "+runFile, "/dev/null")
	if err != nil {
		t.Fatalf("mutt: %v\n%s", err, tail(out, 4000))
	}

	c := dialIMAP(t, srv.imap, user, password, nil)
	inbox := remoteByID(t, c, "INBOX")
	archive := remoteByID(t, c, "Archive")
	var diffs []string
	for id, body := range msgs {
		want := []imap.Flag(nil)
		box := inbox
		switch id {
		case "mutt-1@e2e.test":
			want = []imap.Flag{imap.FlagSeen}
		case "mutt-5@e2e.test":
			want = []imap.Flag{imap.FlagFlagged}
		case "mutt-3@e2e.test":
			if _, ok := inbox[id]; ok {
				diffs = append(diffs, id+": still in INBOX after delete and sync")
			}
			continue
		case "mutt-7@e2e.test":
			if _, ok := inbox[id]; ok {
				diffs = append(diffs, id+": still in INBOX after save and sync")
			}
			box = archive
		}
		m, ok := box[id]
		if !ok {
			diffs = append(diffs, id+": missing")
			continue
		}
		var got []imap.Flag
		for _, f := range m.flags {
			if !strings.EqualFold(string(f), `\Recent`) {
				got = append(got, f)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			diffs = append(diffs, fmt.Sprintf("%s: flags %v, want %v", id, got, want))
		}
		// Delivery puts Return-Path and Delivered-To on top.
		if !bytes.HasSuffix(m.body, body) {
			diffs = append(diffs, id+": body differs from what was delivered")
		}
	}
	if len(archive) != 1 {
		diffs = append(diffs, fmt.Sprintf("Archive holds %d messages, want 1", len(archive)))
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Fatalf("after mutt:\n%s\nmutt's screen (tail):\n%s", strings.Join(diffs, "\n"), tail(out, 3000))
	}
	c.Logout().Wait()
	srv.stop()
	mustCheck(t, data)
}
