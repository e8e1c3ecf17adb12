package transfer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dovecotUID is the unprivileged user the test's Dovecot runs mail
// processes as (Dovecot refuses uid 0).
const dovecotUID = 65534

// testDovecot is a Dovecot master started for one test, without network
// listeners, so doveadm can read and write Maildirs under home.
type testDovecot struct {
	conf, home string
}

// startDovecot starts Dovecot when it is installed and the test runs as
// root (needed to hand the mail directories to dovecotUID); otherwise the
// test is skipped.
func startDovecot(t *testing.T, mailLocation string) *testDovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		t.Skip("dovecot not installed")
	}
	if _, err := exec.LookPath("doveadm"); err != nil {
		t.Skip("doveadm not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run Dovecot's mail processes as another user")
	}
	dir, err := os.MkdirTemp("", "postern-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &testDovecot{conf: filepath.Join(dir, "dovecot.conf"), home: filepath.Join(dir, "home")}
	for _, sub := range []string{"run", "state", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`protocols = none
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/log
ssl = no
mail_location = %[3]s
default_login_user = root
default_internal_user = root
default_internal_group = root
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = static
  args = password=unused
}
userdb {
  driver = static
  args = uid=%[2]d gid=%[2]d home=%[1]s/home/%%u
}
service anvil {
  chroot =
}
`, dir, dovecotUID, mailLocation)
	if err := os.Lchown(d.home, dovecotUID, dovecotUID); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-F", "-c", d.conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM lets the master stop its children; SIGKILL if it hangs.
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sock := filepath.Join(dir, "run", "auth-userdb")
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dovecot did not start: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

// doveadm runs a doveadm command and returns its output.
func (d *testDovecot) doveadm(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("doveadm", append([]string{"-c", d.conf}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("doveadm %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// chownTree hands a directory tree to the Dovecot mail user.
func chownTree(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, dovecotUID, dovecotUID)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDovecotInterop moves mail from a Maildir written by Dovecot into the
// store, and from the store into a Maildir Dovecot then reads.
func TestDovecotInterop(t *testing.T) {
	dv := startDovecot(t, "maildir:~/Maildir")
	ctx := context.Background()
	msg := func(s string) string { return "From: a@example.org\nSubject: " + s + "\n\nbody " + s + "\n" }
	dv.doveadm(t, msg("one"), "save", "-u", "dave")
	dv.doveadm(t, msg("two"), "save", "-u", "dave")
	dv.doveadm(t, "", "mailbox", "create", "-u", "dave", "Sub/Folder", "Entwürfe")
	dv.doveadm(t, msg("sub"), "save", "-u", "dave", "-m", "Sub/Folder")
	dv.doveadm(t, "", "flags", "add", "-u", "dave", `\Seen $Junk work`, "mailbox", "INBOX", "uid", "2")
	dv.doveadm(t, "", "mailbox", "subscribe", "-u", "dave", "INBOX", "Sub/Folder")
	dv.doveadm(t, "", "expunge", "-u", "dave", "mailbox", "INBOX", "uid", "1")
	dv.doveadm(t, msg("three"), "save", "-u", "dave")
	status := dv.doveadm(t, "", "-f", "flow", "mailbox", "status", "-u", "dave", "uidvalidity", "INBOX")

	st := openStore(t)
	acct := mustCreateAccount(t, st, "dave")
	rep, err := Import(ctx, st, ImportOptions{Account: "dave", Format: FormatMaildir, Path: filepath.Join(dv.home, "dave", "Maildir")})
	if err != nil || rep.Messages != 3 || rep.Failed != 0 {
		t.Fatalf("import from Dovecot: %+v %v", rep, err)
	}
	inbox, msgs := mailboxMessages(t, st, "dave", "INBOX")
	if len(msgs) != 2 || msgs[0].flags != `$junk \seen work` || !strings.Contains(msgs[0].raw, "Subject: two\r\n") || !strings.Contains(msgs[1].raw, "Subject: three\r\n") {
		t.Errorf("INBOX from Dovecot: %+v", msgs)
	}
	if _, ok := any(st).(UIDPreserver); ok {
		if !strings.Contains(status, fmt.Sprintf("uidvalidity=%d", inbox.UIDValidity)) || msgs[0].uid != 2 || msgs[1].uid != 3 {
			t.Errorf("UIDs not kept: Dovecot %q, store V%d %d %d", status, inbox.UIDValidity, msgs[0].uid, msgs[1].uid)
		}
	}
	if _, sub := mailboxMessages(t, st, "dave", "Sub/Folder"); len(sub) != 1 {
		t.Errorf("Sub/Folder: %+v", sub)
	}
	mailboxMessages(t, st, "dave", "Entwürfe")
	subs, _ := st.Subscriptions(ctx, acct.ID)
	if !slices.Contains(subs, "Sub/Folder") {
		t.Errorf("subscriptions %q", subs)
	}

	// The other way: export a seeded account where Dovecot reads it.
	seedAccount(t, st, "erin")
	want := snapshot(t, st, "erin")
	home := filepath.Join(dv.home, "erin")
	if _, err := Export(ctx, st, ExportOptions{Account: "erin", Format: FormatMaildir, Path: filepath.Join(home, "Maildir")}); err != nil {
		t.Fatal(err)
	}
	chownTree(t, home)
	erinInbox, _ := mailboxMessages(t, st, "erin", "INBOX")
	if status := dv.doveadm(t, "", "-f", "flow", "mailbox", "status", "-u", "erin", "uidvalidity uidnext", "INBOX"); !strings.Contains(status, fmt.Sprintf("uidvalidity=%d", erinInbox.UIDValidity)) {
		t.Errorf("Dovecot did not take UIDVALIDITY %d from dovecot-uidlist: %q", erinInbox.UIDValidity, status)
	}
	out := dv.doveadm(t, "", "-f", "tab", "fetch", "-u", "erin", "uid flags date.received", "mailbox", "INBOX")
	lines := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(lines) != len(want["INBOX"]) {
		t.Fatalf("Dovecot sees %d INBOX messages, want %d:\n%s", len(lines), len(want["INBOX"]), out)
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			t.Fatalf("fetch line %q", line)
		}
		var flags []string
		for _, fl := range strings.Fields(f[1]) {
			if fl != `\Recent` {
				flags = append(flags, strings.ToLower(fl))
			}
		}
		slices.Sort(flags)
		if f[0] != fmt.Sprint(i+1) || strings.Join(flags, " ") != want["INBOX"][i].flags {
			t.Errorf("Dovecot INBOX message %s: flags %q, want uid %d flags %q", f[0], flags, i+1, want["INBOX"][i].flags)
		}
	}
	list := dv.doveadm(t, "", "mailbox", "list", "-s", "-u", "erin")
	for _, name := range []string{"INBOX", "Sub/Folder", "Entwürfe"} {
		if !strings.Contains(list, name+"\n") {
			t.Errorf("Dovecot subscriptions %q lack %q", list, name)
		}
	}
}

// TestDovecotMboxInterop does the same with Dovecot's mbox format, which
// does not quote "From " lines but relies on Content-Length.
func TestDovecotMboxInterop(t *testing.T) {
	dv := startDovecot(t, "mbox:~/mail:INBOX=~/inbox")
	ctx := context.Background()
	dv.doveadm(t, "From: a@example.org\nSubject: one\n\nFrom here\n>From there\n", "save", "-u", "dave")
	dv.doveadm(t, "From: a@example.org\nSubject: two\n\nbody\n", "save", "-u", "dave")
	dv.doveadm(t, "", "flags", "add", "-u", "dave", `\Seen \Answered $Junk work`, "mailbox", "INBOX", "uid", "2")
	dv.doveadm(t, "", "fetch", "-u", "dave", "uid", "mailbox", "INBOX") // makes Dovecot write its headers

	st := openStore(t)
	mustCreateAccount(t, st, "dave")
	rep, err := Import(ctx, st, ImportOptions{Account: "dave", Format: FormatMbox, Path: filepath.Join(dv.home, "dave", "inbox")})
	if err != nil || rep.Messages != 2 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	_, msgs := mailboxMessages(t, st, "dave", "INBOX")
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	if !strings.HasSuffix(msgs[0].raw, "\r\n\r\nFrom here\r\n>From there\r\n") || strings.Contains(msgs[0].raw, "X-UID") || strings.Contains(msgs[0].raw, "X-IMAPbase") || strings.Contains(msgs[0].raw, "Content-Length") {
		t.Errorf("first message %q", msgs[0].raw)
	}
	if msgs[1].flags != `$junk \answered \seen work` || !strings.HasSuffix(msgs[1].raw, "\r\n\r\nbody\r\n") {
		t.Errorf("second message %q %q", msgs[1].flags, msgs[1].raw)
	}

	// Our mbox export, read by Dovecot.
	seedAccount(t, st, "erin")
	want := snapshot(t, st, "erin")["INBOX"]
	home := filepath.Join(dv.home, "erin")
	if err := os.MkdirAll(filepath.Join(home, "mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Export(ctx, st, ExportOptions{Account: "erin", Format: FormatMbox, Mailbox: "INBOX", Path: filepath.Join(home, "inbox")}); err != nil {
		t.Fatal(err)
	}
	chownTree(t, home)
	erinInbox, _ := mailboxMessages(t, st, "erin", "INBOX")
	if status := dv.doveadm(t, "", "-f", "flow", "mailbox", "status", "-u", "erin", "uidvalidity", "INBOX"); !strings.Contains(status, fmt.Sprintf("uidvalidity=%d", erinInbox.UIDValidity)) {
		t.Errorf("Dovecot did not take UIDVALIDITY %d from X-IMAPbase: %q", erinInbox.UIDValidity, status)
	}
	out := dv.doveadm(t, "", "-f", "tab", "fetch", "-u", "erin", "uid flags", "mailbox", "INBOX")
	lines := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(lines) != len(want) {
		t.Fatalf("Dovecot sees %d messages, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) < 2 || f[0] != fmt.Sprint(i+1) {
			t.Fatalf("Dovecot fetch line %q: want uid %d (from X-UID)", line, i+1)
		}
		var flags []string
		for _, fl := range strings.Fields(f[1]) {
			if fl != `\Recent` {
				flags = append(flags, strings.ToLower(fl))
			}
		}
		slices.Sort(flags)
		if strings.Join(flags, " ") != want[i].flags {
			t.Errorf("Dovecot message %d: flags %q, want %q", i+1, flags, want[i].flags)
		}
	}
}
