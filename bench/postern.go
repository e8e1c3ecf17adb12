package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // settle reads the store's progress mark
)

func numCPU() int { return runtime.NumCPU() }

// posternServer is a postern built from this checkout and started on
// loopback high ports with its own data directory.
type posternServer struct {
	bin, data string
	conf      string
	ports     ports
	cmd       *exec.Cmd
}

// startPostern builds ./cmd/postern into dir, or copies bin there when
// it is not empty, and starts it with the given users.
func startPostern(ctx context.Context, dir, bin string, users map[string]string) (*posternServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &posternServer{bin: filepath.Join(dir, "postern"), data: filepath.Join(dir, "data")}
	if bin != "" {
		logf("using %s", bin)
		if out, err := exec.CommandContext(ctx, "cp", bin, s.bin).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("copying %s: %v\n%s", bin, err, out)
		}
	} else {
		logf("building postern")
		build := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "./cmd/postern")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/postern (run the harness from the repository root): %v\n%s", err, out)
		}
	}
	// Loopback load tests open thousands of connections from one address:
	// lift the per-IP and total connection limits for the benchmark only.
	conf := filepath.Join(dir, "postern.toml")
	if err := os.WriteFile(conf, []byte("[limits]\nconnections_per_ip = 0\nmax_connections = 0\n"), 0o644); err != nil {
		return nil, err
	}
	s.conf = conf
	for u, pw := range users {
		if err := s.cli(ctx, pw, "user", "add", u, "--password-stdin"); err != nil {
			return nil, err
		}
	}
	p, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s.ports = ports{p[0], p[1], p[2]}
	s.cmd = exec.Command(s.bin, "--config", s.conf, "--data", s.data, "serve",
		"--imap", fmt.Sprintf("127.0.0.1:%d", p[0]), "--imaps", "",
		"--pop3", fmt.Sprintf("127.0.0.1:%d", p[1]), "--pop3s", "",
		"--lmtp", fmt.Sprintf("127.0.0.1:%d", p[2]), "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = logFile(filepath.Join(dir, "postern.log"))
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p[2], 20*time.Second); err != nil {
		s.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "postern.log"))
		return nil, fmt.Errorf("postern did not start: %v\n%s", err, tail(log, 2000))
	}
	return s, nil
}

// cli runs a postern subcommand on the same data directory.
func (s *posternServer) cli(ctx context.Context, stdin string, args ...string) error {
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"--data", s.data}, args...)...)
	cmd.Stdin = strings.NewReader(stdin + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("postern %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *posternServer) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func (s *posternServer) target() *target {
	return &target{
		name:     "postern",
		pids:     func() []int { return []int{s.cmd.Process.Pid} },
		imap:     fmt.Sprintf("127.0.0.1:%d", s.ports.imap),
		pop3:     fmt.Sprintf("127.0.0.1:%d", s.ports.pop3),
		lmtp:     fmt.Sprintf("127.0.0.1:%d", s.ports.lmtp),
		password: "bench-password",
		load: func(ctx context.Context, user, maildir string) error {
			return s.cli(ctx, "", "import", "--user", user, "--format", "maildir", maildir)
		},
		settle: s.indexCaughtUp,
	}
}

// indexCaughtUp waits until postern's background text indexer has looked
// at every message row (meta 'fts_upto' reaches the highest id) and
// removed the text of every expunged one (text_gone is empty), reading
// the database read-only, and returns how long that took.
func (s *posternServer) indexCaughtUp(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.data, "postern.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	// Since schema step 9 the indexer also removes expunged messages'
	// text (queued in text_gone); a build from before has no such queue.
	var hasQueue bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'text_gone')").Scan(&hasQueue); err != nil {
		return 0, fmt.Errorf("reading the schema: %w", err)
	}
	q := `SELECT coalesce((SELECT value FROM meta WHERE key = 'fts_upto'), 0) >=
			(SELECT coalesce(max(id), 0) FROM messages)`
	if hasQueue {
		q += ` AND NOT EXISTS (SELECT 1 FROM text_gone)`
	}
	for {
		var done bool
		err := db.QueryRowContext(ctx, q).Scan(&done)
		if err != nil {
			return 0, fmt.Errorf("reading the index progress: %w", err)
		}
		if done {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *dovecotServer) target() *target {
	return &target{
		name:      "dovecot",
		pids:      dovecotPIDs,
		imap:      fmt.Sprintf("127.0.0.1:%d", s.ports.imap),
		pop3:      fmt.Sprintf("127.0.0.1:%d", s.ports.pop3),
		lmtp:      fmt.Sprintf("127.0.0.1:%d", s.ports.lmtp),
		password:  "bench-password",
		maildirOf: s.mailDir,
		load: func(ctx context.Context, user, maildir string) error {
			dst := s.mailDir(user)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			_ = os.RemoveAll(dst)
			if out, err := exec.CommandContext(ctx, "cp", "-a", maildir, dst).CombinedOutput(); err != nil {
				return fmt.Errorf("cp: %v: %s", err, out)
			}
			uid, gid, err := ensureMailUser()
			if err != nil {
				return err
			}
			if out, err := exec.CommandContext(ctx, "chown", "-R", uid+":"+gid, filepath.Join(s.dir, "mail")).CombinedOutput(); err != nil {
				return fmt.Errorf("chown: %v: %s", err, out)
			}
			return nil
		},
	}
}
