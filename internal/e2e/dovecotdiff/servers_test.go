package dovecotdiff

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mailUser is the system user Dovecot stores mail as; Dovecot refuses to
// access mail as root. The bench harness uses the same user.
const mailUser = "postern-bench"

// endpoints are the addresses one server under test listens on.
type endpoints struct {
	imap, lmtp string
}

// buildPostern compiles cmd/postern into dir and returns the binary path,
// or returns POSTERN_DIFF_BIN when that names a prebuilt binary.
func buildPostern(t *testing.T, dir string) string {
	t.Helper()
	if p := os.Getenv("POSTERN_DIFF_BIN"); p != "" {
		return p
	}
	bin := filepath.Join(dir, "postern")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/postern/postern/cmd/postern").CombinedOutput()
	if err != nil {
		t.Fatalf("go build postern: %v\n%s", err, out)
	}
	return bin
}

var listenerLine = regexp.MustCompile(`^\s+(lmtp|imap)\s+(127\.0\.0\.1:\d+)`)

// startPostern creates user with password in a fresh data directory, runs
// `postern serve` with IMAP and LMTP on loopback port 0, and stops it with
// SIGTERM in a cleanup.
func startPostern(t *testing.T, bin, dir, name, password string) endpoints {
	t.Helper()
	data := filepath.Join(dir, "data")
	add := exec.Command(bin, "--data", data, "user", "add", name, "--password-stdin")
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("postern user add: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, bin, "--data", data, "serve",
		"--imap", "127.0.0.1:0", "--imaps", "", "--pop3", "", "--pop3s", "", "--lmtp", "127.0.0.1:0")
	cmd.WaitDelay = 5 * time.Second
	logf, err := os.Create(filepath.Join(dir, "postern.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start postern: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		pw.Close()
		logf.Close()
		cancel()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan endpoints, 1)
	go func() {
		var ep endpoints
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listenerLine.FindStringSubmatch(sc.Text()); m != nil {
				if m[1] == "imap" {
					ep.imap = m[2]
				} else {
					ep.lmtp = m[2]
				}
				if ep.imap != "" && ep.lmtp != "" {
					found <- ep
					break
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case ep := <-found:
		return ep
	case <-done:
		t.Fatalf("postern serve exited before it was ready")
	case <-time.After(60 * time.Second):
		t.Fatalf("postern serve not ready after 60s")
	}
	return endpoints{}
}

// dovecotConf is a private Dovecot configuration: loopback high ports, its
// own run/state directories, Maildir under the temp directory, and the same
// special-use mailboxes postern gives a new account.
const dovecotConf = `# Written by postern's differential test. Only loopback, only high ports.
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {{dir}}/run
state_dir = {{dir}}/state
log_path = {{dir}}/dovecot.log
info_log_path = {{dir}}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
postmaster_address = postmaster@localhost
hostname = localhost
lmtp_add_received_header = no
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_vsz_limit = 1G
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Ln {{dir}}/users
}
userdb {
  driver = static
  args = uid={{uid}} gid={{gid}} home={{dir}}/mail/%Ln
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{imap}}
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = {{lmtp}}
  }
  unix_listener lmtp {
    mode = 0600
  }
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox INBOX {
    auto = subscribe
  }
  mailbox Drafts {
    auto = subscribe
    special_use = \Drafts
  }
  mailbox Sent {
    auto = subscribe
    special_use = \Sent
  }
  mailbox Trash {
    auto = subscribe
    special_use = \Trash
  }
  mailbox Junk {
    auto = subscribe
    special_use = \Junk
  }
  mailbox Archive {
    auto = subscribe
    special_use = \Archive
  }
}
`

// freePort asks the kernel for a free loopback port. Dovecot needs a
// number in its config, so there is a small window in which another
// process could take it; startDovecot fails clearly if that happens.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDovecot runs a private Dovecot in dir with one passwd-file user and
// stops it with doveadm in a cleanup.
func startDovecot(t *testing.T, dir, name, password string) endpoints {
	t.Helper()
	u, err := user.Lookup(mailUser)
	if err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", mailUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v: %s", mailUser, err, out)
		}
		if u, err = user.Lookup(mailUser); err != nil {
			t.Fatal(err)
		}
	}
	// The mail processes run as mailUser and must reach their home.
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() {
			_ = os.Chmod(d, 0o755)
		}
	}
	for _, d := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	imapPort, lmtpPort := freePort(t), freePort(t)
	conf := strings.NewReplacer("{{dir}}", dir, "{{uid}}", u.Uid, "{{gid}}", u.Gid,
		"{{imap}}", fmt.Sprint(imapPort), "{{lmtp}}", fmt.Sprint(lmtpPort)).Replace(dovecotConf)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(fmt.Sprintf("%s:{PLAIN}%s\n", name, password)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", u.Uid+":"+u.Gid, filepath.Join(dir, "mail")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	cmd := exec.Command("dovecot", "-F", "-c", confPath)
	out, err := os.Create(filepath.Join(dir, "dovecot.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	t.Cleanup(func() {
		_ = exec.Command("doveadm", "-c", confPath, "stop").Run()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ep := endpoints{imap: fmt.Sprintf("127.0.0.1:%d", imapPort), lmtp: fmt.Sprintf("127.0.0.1:%d", lmtpPort)}
	for _, a := range []string{ep.imap, ep.lmtp} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
				t.Fatalf("dovecot not listening on %s: %v\n%s", a, err, log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return ep
}
