package main

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
)

// checkPassword opens the CLI's store (beside any other user, as WAL
// allows) and verifies a login.
func (c *cli) checkPassword(user, pw string) error {
	c.t.Helper()
	ctx := c.t.Context()
	st, err := sqlite.Open(ctx, c.data, sqlite.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	svc := auth.New(store.CredentialSource{Store: st, UnknownUser: auth.ErrUnknownUser}, auth.Config{})
	_, err = svc.CheckPassword(ctx, auth.ConnInfo{Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}, user, pw)
	return err
}

// row returns the whitespace-split fields of the line starting with name.
func row(t *testing.T, out, name string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

func TestUserCommands(t *testing.T) {
	c := newCLI(t)
	r := c.ok("", "user", "add", "Alice")
	m := passwordLine.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "created account alice") {
		t.Fatalf("user add: %v", r)
	}
	alicePW := m[1]
	if err := c.checkPassword("alice", alicePW); err != nil {
		t.Fatalf("generated password does not log in: %v", err)
	}

	r = c.ok("s3cret pass\n", "user", "add", "bob", "--password-stdin")
	if passwordLine.MatchString(r.stdout) {
		t.Fatalf("--password-stdin printed a password: %v", r)
	}
	if err := c.checkPassword("bob", "s3cret pass"); err != nil {
		t.Fatalf("stdin password does not log in: %v", err)
	}
	c.fails(1, `account "alice" already exists`, "user", "add", "ALICE")
	c.fails(2, "want one account NAME", "user", "add")
	if r := c.run("", "user", "add", "carol", "--password-stdin"); r.code != 2 || !strings.Contains(r.stderr, "empty password") {
		t.Fatalf("empty stdin password: %v", r)
	}

	// Quota: set both, then one (the other stays), and bad values.
	c.ok("", "user", "quota", "alice", "--storage", "500M", "--messages", "1000")
	r = c.ok("", "user", "quota", "alice", "--messages", "10")
	if !strings.Contains(r.stdout, "quota 500M, 10 messages") {
		t.Fatalf("quota: %v", r)
	}
	c.fails(2, "--storage", "user", "quota", "alice", "--storage", "lots")
	c.fails(2, "--messages", "user", "quota", "alice", "--messages", "-3")
	c.fails(1, `no account "nobody"`, "user", "quota", "nobody", "--storage", "1G")

	r = c.ok("", "user", "list")
	if f := row(t, r.stdout, "alice"); len(f) < 4 || f[1] != "0" || f[2] != "0" || !strings.Contains(r.stdout, "500M, 10 messages") {
		t.Fatalf("user list: %v", r)
	}
	if f := row(t, r.stdout, "bob"); f == nil || !strings.Contains(strings.Join(f, " "), "unlimited") {
		t.Fatalf("user list, bob: %v", r)
	}
	c.ok("", "user", "quota", "alice", "--storage", "0", "--messages", "0")
	if f := row(t, c.ok("", "user", "list").stdout, "alice"); f[3] != "unlimited" {
		t.Fatalf("quota 0 is not unlimited: %v", f)
	}

	// passwd: generated, then from stdin; the old password stops working.
	r = c.ok("", "user", "passwd", "alice")
	m = passwordLine.FindStringSubmatch(r.stdout)
	if m == nil || m[1] == alicePW {
		t.Fatalf("passwd: %v", r)
	}
	if err := c.checkPassword("alice", alicePW); err == nil {
		t.Fatal("old password still works")
	}
	c.ok("new-one\n", "user", "passwd", "alice", "--password-stdin")
	if err := c.checkPassword("alice", "new-one"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	c.fails(1, `no account "nobody"`, "user", "passwd", "nobody")

	// del needs --yes.
	c.fails(2, "without --yes", "user", "del", "bob")
	if row(t, c.ok("", "user", "list").stdout, "bob") == nil {
		t.Fatal("bob deleted without --yes")
	}
	c.ok("", "user", "del", "bob", "--yes")
	if row(t, c.ok("", "user", "list").stdout, "bob") != nil {
		t.Fatal("bob still listed")
	}
	c.fails(1, `no account "bob"`, "user", "del", "bob", "--yes")
}

func TestMailboxCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("", "user", "add", "alice")
	r := c.ok("", "mailbox", "list", "--user", "alice")
	for _, mb := range []string{"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"} {
		if row(t, r.stdout, mb) == nil {
			t.Fatalf("mailbox list lacks %s: %v", mb, r)
		}
	}
	c.ok("", "mailbox", "create", "--user", "alice", "Lists/go-nuts")
	c.ok("", "mailbox", "create", "--user", "alice", "Spam2", "--special-use", "junk")
	c.fails(2, "--special-use", "mailbox", "create", "--user", "alice", "X", "--special-use", `\Bogus`)
	c.fails(1, `mailbox "Lists/go-nuts" already exists`, "mailbox", "create", "--user", "alice", "Lists/go-nuts")
	c.fails(2, "--user NAME is required", "mailbox", "list")
	c.fails(1, `no account "nobody"`, "mailbox", "list", "--user", "nobody")
	r = c.ok("", "mailbox", "list", "--user", "alice")
	if row(t, r.stdout, "Lists") == nil || row(t, r.stdout, "Lists/go-nuts") == nil {
		t.Fatalf("created mailboxes missing: %v", r)
	}
	if f := row(t, r.stdout, "Spam2"); f == nil || !strings.Contains(strings.Join(f, " "), `\Junk`) {
		t.Fatalf("special use missing: %v", r)
	}

	c.ok("", "mailbox", "rename", "--user", "alice", "Lists", "Groups")
	r = c.ok("", "mailbox", "list", "--user", "alice")
	if row(t, r.stdout, "Groups/go-nuts") == nil || row(t, r.stdout, "Lists/go-nuts") != nil {
		t.Fatalf("rename did not move the child: %v", r)
	}
	c.fails(1, `no mailbox "Nope"`, "mailbox", "rename", "--user", "alice", "Nope", "Other")

	// Deleting: children first; a mailbox holding mail needs --yes.
	c.fails(1, "child mailboxes", "mailbox", "delete", "--user", "alice", "Groups")
	msg := "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"
	c.ok(msg, "deliver", "--user", "alice", "--mailbox", "Groups/go-nuts")
	r = c.ok("", "mailbox", "list", "--user", "alice")
	if f := row(t, r.stdout, "Groups/go-nuts"); f == nil || f[1] != "1" || f[2] != "1" {
		t.Fatalf("count after delivery: %v", r)
	}
	c.fails(2, "add --yes", "mailbox", "delete", "--user", "alice", "Groups/go-nuts")
	c.ok("", "mailbox", "delete", "--user", "alice", "Groups/go-nuts", "--yes")
	c.ok("", "mailbox", "delete", "--user", "alice", "Groups")
	c.fails(1, "INBOX", "mailbox", "delete", "--user", "alice", "INBOX")
	if row(t, c.ok("", "mailbox", "list", "--user", "alice").stdout, "Groups") != nil {
		t.Fatal("Groups still listed")
	}
}

func TestDeliverExitCodes(t *testing.T) {
	c := newCLI(t)
	c.ok("", "user", "add", "alice")
	msg := "From: a@example.org\r\nTo: alice@example.org\r\nSubject: hello\r\n\r\nbody\r\n"

	if r := c.run(msg, "deliver", "--user", "alice"); r.code != 0 {
		t.Fatalf("deliver: %v", r)
	}
	if r := c.run(msg, "deliver", "--user", "alice+lists"); r.code != 0 {
		t.Fatalf("deliver with +detail: %v", r)
	}
	if f := row(t, c.ok("", "user", "list").stdout, "alice"); f[1] != "2" {
		t.Fatalf("messages after 2 deliveries: %v", f)
	}
	if r := c.run(msg, "deliver", "--user", "nobody"); r.code != 67 {
		t.Fatalf("unknown user: %v", r)
	}
	if r := c.run("", "deliver", "--user", "alice"); r.code != 65 {
		t.Fatalf("empty message: %v", r)
	}

	// Too large for the configured limit: 65 (EX_DATAERR).
	cfgPath := filepath.Join(t.TempDir(), "small.toml")
	if err := os.WriteFile(cfgPath, []byte("[limits]\nmax_message_size = \"1K\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := msg + strings.Repeat("0123456789abcdef\r\n", 200)
	if r := c.run(big, "--config", cfgPath, "deliver", "--user", "alice"); r.code != 65 {
		t.Fatalf("too large: %v", r)
	}

	// Over quota: 73 (EX_CANTCREAT).
	c.ok("", "user", "quota", "alice", "--messages", "2")
	if r := c.run(msg, "deliver", "--user", "alice"); r.code != 73 {
		t.Fatalf("over quota: %v", r)
	}
	if r := c.run(msg, "deliver", "--user", "alice", "--ignore-quota"); r.code != 0 {
		t.Fatalf("--ignore-quota: %v", r)
	}

	// A store that cannot be opened is temporary: 75 (EX_TEMPFAIL).
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := &cli{t: t, data: notDir}
	if r := bad.run(msg, "deliver", "--user", "alice"); r.code != 75 {
		t.Fatalf("unopenable store: %v", r)
	}
	if r := c.run(msg, "deliver"); r.code != 2 {
		t.Fatalf("missing --user: %v", r)
	}
}

func TestCheckAndTransfer(t *testing.T) {
	c := newCLI(t)
	c.ok("", "user", "add", "alice")
	c.ok("", "user", "add", "bob")
	for i := range 3 {
		msg := "From: a@example.org\r\nSubject: message " + string(rune('A'+i)) + "\r\n\r\nbody\r\n"
		c.ok(msg, "deliver", "--user", "alice")
	}
	if r := c.ok("", "check"); !strings.Contains(r.stdout, "no problems found") {
		t.Fatalf("check: %v", r)
	}
	c.ok("", "check", "--repair")

	out := filepath.Join(t.TempDir(), "inbox.mbox")
	r := c.ok("", "export", "--user", "alice", "--format", "mbox", "--mailbox", "INBOX", out)
	if !strings.Contains(r.stdout, "exported 3 messages") {
		t.Fatalf("export: %v", r)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m)^From `).FindAll(data, -1)); n != 3 {
		t.Fatalf("mbox has %d messages:\n%s", n, data)
	}
	r = c.ok("", "import", "--user", "bob", "--format", "mbox", "--mailbox", "Archive", out)
	if !strings.Contains(r.stdout, "imported 3 messages") {
		t.Fatalf("import: %v", r)
	}
	r = c.ok("", "import", "--user", "bob", "--format", "mbox", "--mailbox", "Archive", out)
	if !strings.Contains(r.stdout, "imported 0 messages") || !strings.Contains(r.stdout, "3 already present") {
		t.Fatalf("second import: %v", r)
	}
	if f := row(t, c.ok("", "mailbox", "list", "--user", "bob").stdout, "Archive"); f[1] != "3" {
		t.Fatalf("bob's Archive: %v", f)
	}
	c.fails(2, "--format", "export", "--user", "alice", "--format", "zip", out+".2")
	c.fails(2, "--user", "import", "--format", "mbox", out)
	c.fails(1, `no account "nobody"`, "import", "--user", "nobody", "--format", "mbox", out)
	c.fails(1, "", "export", "--user", "alice", "--format", "mbox", "--mailbox", "INBOX", out) // exists

	// A lost message body is a problem check reports, exiting 1. Bodies up
	// to 128 KiB are kept inside the database; a larger one has a file.
	big := "From: a@example.org\r\nSubject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 3000)
	c.ok(big, "deliver", "--user", "alice")
	var blobs []string
	filepath.WalkDir(filepath.Join(c.data, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs = append(blobs, p)
		}
		return nil
	})
	if len(blobs) == 0 {
		t.Fatal("no blob files found")
	}
	if err := os.Remove(blobs[0]); err != nil {
		t.Fatal(err)
	}
	r = c.run("", "check")
	if r.code != 1 || !strings.Contains(r.stdout, "problem: ") || !strings.Contains(r.stderr, "--repair") {
		t.Fatalf("check of a damaged store: %v", r)
	}
}

func TestUserPlainEquivalent(t *testing.T) {
	c := newCLI(t)
	c.fails(2, "plain_secret_key_file", "user", "add", "alice", "--plain-equivalent")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "plain.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "postern.toml")
	cfg := "[auth]\ncram_md5 = true\napop = true\nplain_secret_key_file = \"" + keyFile + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("", "--config", cfgPath, "config", "check", cfgPath)
	c.ok("pw-for-cram\n", "--config", cfgPath, "user", "add", "alice", "--plain-equivalent", "--password-stdin")
	st, err := sqlite.Open(t.Context(), c.data, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.Account(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if acct.Secrets[auth.SecretPlainEquivalent] == "" || acct.Secrets[auth.SecretPassword] == "" {
		t.Fatalf("secrets stored: %v", keys(acct.Secrets))
	}
	if strings.Contains(acct.Secrets[auth.SecretPlainEquivalent], "pw-for-cram") {
		t.Fatal("password stored in clear")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
