package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMbsync runs syncScenario with mbsync (isync).
func TestMbsync(t *testing.T) {
	t.Parallel()
	mbsync := needTool(t, "mbsync", "isync")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const user, password = "syncer", "sync-password-1"
	addUser(t, data, user, password)
	srv := startServer(t, data, false)

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

	// mbsync keeps LF line ends in the Maildir and inserts its own
	// X-TUID: tracking line at the end of the header.
	syncScenario(t, syncCase{user: user, password: password, data: data, srv: srv, local: local, sync: sync, norm: stripTUID})
}
