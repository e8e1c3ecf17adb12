package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOfflineIMAP runs syncScenario with OfflineIMAP (offlineimap3), which
// relies on UIDPLUS (APPENDUID) to learn the UID of what it uploads and on
// UID FETCH of flags to find changes on the server.
func TestOfflineIMAP(t *testing.T) {
	t.Parallel()
	oi := needTool(t, "offlineimap", "offlineimap3")
	sc, dir := newSyncCase(t, "offline", "offline-password-1")
	host, port, _ := strings.Cut(sc.srv.imap, ":")
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
`, dir, sc.local, host, port, sc.user, sc.password)
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

	sc.sync, sc.norm = sync, func(b []byte) []byte { return b }
	// OfflineIMAP sets \Deleted for a T in the Maildir but expunges only
	// what was removed from it.
	sc.trashedStays = true
	syncScenario(t, sc)
}
