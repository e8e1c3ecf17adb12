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
	sc, dir := newSyncCase(t, "syncer", "sync-password-1")
	host, port, _ := strings.Cut(sc.srv.imap, ":")
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
`, host, port, sc.user, sc.password, sc.local, sc.local)
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
	sc.sync, sc.norm = sync, stripTUID
	syncScenario(t, sc)
}
