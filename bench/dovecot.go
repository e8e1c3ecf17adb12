package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"
)

// mailUser is the system user Dovecot stores the benchmark mail as;
// Dovecot refuses to access mail as root.
const mailUser = "postern-bench"

// ensureDovecot installs Debian's Dovecot packages when the binaries are
// missing. The package scripts cannot start the service in a container, and
// the harness runs its own instance anyway.
func ensureDovecot(ctx context.Context, logf func(string, ...any)) error {
	if _, err := os.Stat("/usr/lib/dovecot/lmtp"); err == nil {
		if _, err := os.Stat("/usr/lib/dovecot/pop3"); err == nil {
			if _, err := exec.LookPath("dovecot"); err == nil {
				return nil
			}
		}
	}
	logf("installing dovecot-imapd, dovecot-pop3d, dovecot-lmtpd from Debian's packages")
	if os.Geteuid() != 0 {
		return fmt.Errorf("dovecot is not installed and installing it needs root: apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd")
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"apt-get", "update", "-qq"},
		{"apt-get", "install", "-y", "-q", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd"},
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// ensureMailUser creates the unprivileged system user Dovecot writes mail as.
func ensureMailUser() (uid, gid string, err error) {
	u, err := user.Lookup(mailUser)
	if err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", mailUser).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("useradd %s: %v: %s", mailUser, err, out)
		}
		if u, err = user.Lookup(mailUser); err != nil {
			return "", "", err
		}
	}
	return u.Uid, u.Gid, nil
}

// dovecotServer is one Dovecot instance in its own directory on loopback
// high ports, with its own config: nothing of the system's Dovecot is used.
type dovecotServer struct {
	dir   string
	ports ports
	cmd   *exec.Cmd
}

const dovecotConf = `# Written by postern's bench harness. Only loopback, only high ports.
protocols = imap pop3 lmtp
listen = 127.0.0.1
base_dir = {{dir}}/run
state_dir = {{dir}}/state
log_path = {{dir}}/dovecot.log
info_log_path = {{dir}}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
recipient_delimiter = +
postmaster_address = postmaster@localhost
hostname = localhost
mail_location = maildir:~/Maildir
# Durability: Dovecot's default. Message files are fsynced before a
# delivery or APPEND is acknowledged; index files are not (they can be
# rebuilt). postern fsyncs the message blob and commits its database with
# synchronous=FULL before acknowledging.
mail_fsync = optimized
# The IDLE keep-alive ("* OK Still here", every 2 minutes by default)
# would land in the middle of the 10,000-connection IDLE measurement, whose
# set-up takes longer than that; postern sends none. It is only a
# keep-alive: Dovecot learns of new mail through inotify either way.
imap_idle_notify_interval = 1 hours
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
  # Dovecot's high-performance mode: login processes serve many clients.
  service_count = 0
  process_min_avail = 2
  client_limit = 15000
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = {{pop3}}
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 15000
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
service imap {
  process_limit = 12000
}
service pop3 {
  process_limit = 12000
}
service anvil {
  client_limit = 100000
}
service auth {
  client_limit = 100000
}
default_process_limit = 12000
default_client_limit = 15000
mail_max_userip_connections = 100000
namespace inbox {
  inbox = yes
  separator = /
}
`

func startDovecot(ctx context.Context, dir string, p ports, users map[string]string) (*dovecotServer, error) {
	uid, gid, err := ensureMailUser()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{uid}}", uid, "{{gid}}", gid,
		"{{imap}}", fmt.Sprint(p.imap), "{{pop3}}", fmt.Sprint(p.pop3), "{{lmtp}}", fmt.Sprint(p.lmtp)).Replace(dovecotConf)
	if err := os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	var pw strings.Builder
	for u, p := range users {
		fmt.Fprintf(&pw, "%s:{PLAIN}%s\n", u, p)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(pw.String()), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("chown", "-R", uid+":"+gid, filepath.Join(dir, "mail")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown: %v: %s", err, out)
	}
	raiseInotifyLimit()
	cmd := exec.Command("dovecot", "-F", "-c", filepath.Join(dir, "dovecot.conf"))
	cmd.Stdout, cmd.Stderr = logFile(filepath.Join(dir, "dovecot.stdout"))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dovecot: %v", err)
	}
	s := &dovecotServer{dir: dir, ports: p, cmd: cmd}
	if err := waitListening(ctx, p.lmtp, 20*time.Second); err != nil {
		s.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		return nil, fmt.Errorf("dovecot did not start: %v\n%s", err, tail(log, 2000))
	}
	return s, nil
}

func (s *dovecotServer) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = exec.Command("doveadm", "-c", filepath.Join(s.dir, "dovecot.conf"), "stop").Run()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// mailDir is where Dovecot keeps a user's Maildir.
func (s *dovecotServer) mailDir(user string) string {
	return filepath.Join(s.dir, "mail", user, "Maildir")
}

// raiseInotifyLimit lets every IDLE session of Dovecot watch its mailbox
// with inotify. With the kernel's default of 128 instances per user,
// sessions past the 128th fall back to polling every
// mailbox_idle_check_interval (30 s), which would misrepresent Dovecot.
func raiseInotifyLimit() {
	const path = "/proc/sys/fs/inotify/max_user_instances"
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var n int
	fmt.Sscan(strings.TrimSpace(string(b)), &n)
	if n >= 32768 {
		return
	}
	if err := os.WriteFile(path, []byte("32768\n"), 0o644); err != nil {
		logf("could not raise %s from %d (%v): Dovecot's IDLE may fall back to 30 s polling", path, n, err)
		return
	}
	logf("raised %s from %d to 32768 for Dovecot's IDLE sessions", path, n)
}
