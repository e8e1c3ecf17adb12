package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the postern binary under test. TestMain sets it once, before
// any test runs, and nothing writes it afterwards.
var binPath string

// TestMain builds cmd/postern once into a temporary directory (or takes
// POSTERN_E2E_BIN) and runs the tests against that binary. The binary is
// built without the race detector unless POSTERN_E2E_RACE is set.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if p := os.Getenv("POSTERN_E2E_BIN"); p != "" {
		binPath = p
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "postern-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "postern")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	args := []string{"build", "-o", binPath}
	if os.Getenv("POSTERN_E2E_RACE") != "" {
		// A race-enabled server: slower (the 2,000-delivery tests take
		// minutes), but it reports data races under real load; a race
		// makes serve exit non-zero, which stop() reports.
		args = append(args, "-race")
	}
	build := exec.CommandContext(ctx, "go", append(args, "github.com/postern/postern/cmd/postern")...)
	build.Stdout = os.Stderr
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building postern:", err)
		return 1
	}
	return m.Run()
}

// lockedBuffer collects a child's output while it runs; safe for one
// writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is one running `postern serve` process. Tests start it with
// startServer; a cleanup stops it if the test did not.
type server struct {
	t       *testing.T
	dataDir string
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	stdout  *lockedBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed

	// Bound addresses as printed at start, by protocol name.
	lmtp, imap, pop3 string
	// password is the demo account's password when this start created it.
	password string
}

// listenerLine matches the "  lmtp   127.0.0.1:38019   (…)" lines that
// serve prints once its listeners are bound.
var listenerLine = regexp.MustCompile(`^\s+(lmtp|imap|imaps|pop3|pop3s|smtp)\s+(\S+)`)

// startServer runs `postern --data DIR serve [--demo]` with LMTP, IMAP and
// POP3 on 127.0.0.1 port 0 (implicit-TLS listeners off), and waits until it
// has printed its listeners (and the demo password when demo is set and the
// account is new).
func startServer(t *testing.T, dataDir string, demo bool) *server {
	t.Helper()
	// The process lives at most as long as the whole test binary may.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	args := []string{"--data", dataDir, "serve",
		"--lmtp", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--pop3", "127.0.0.1:0",
		"--imaps", "", "--pop3s", ""}
	if demo {
		args = append(args, "--demo")
	}
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.WaitDelay = 5 * time.Second
	s := &server{t: t, dataDir: dataDir, cmd: cmd, stderr: &lockedBuffer{}, stdout: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start postern: %v", err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		pw.Close()
		cancel()
		close(s.done)
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.stdout.Write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.stop()
		}
		if t.Failed() {
			t.Logf("postern stdout:\n%s\npostern stderr (tail):\n%s", s.stdout.String(), tail(s.stderr.String(), 4000))
		}
	})

	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	wantDemo := demo
	for s.lmtp == "" || s.imap == "" || s.pop3 == "" || wantDemo {
		select {
		case line, ok := <-lines:
			if !ok {
				<-s.done
				t.Fatalf("postern serve exited before it was ready: %v\nstdout:\n%s\nstderr:\n%s", s.waitErr, s.stdout.String(), s.stderr.String())
			}
			if m := listenerLine.FindStringSubmatch(line); m != nil {
				switch m[1] {
				case "lmtp":
					s.lmtp = m[2]
				case "imap":
					s.imap = m[2]
				case "pop3":
					s.pop3 = m[2]
				}
			}
			if pw, ok := strings.CutPrefix(strings.TrimSpace(line), "password:"); ok {
				s.password = strings.TrimSpace(pw)
				wantDemo = false
			}
			if strings.Contains(line, "already exists") {
				wantDemo = false
			}
		case <-timeout.C:
			t.Fatalf("postern serve not ready after 60s\nstdout:\n%s\nstderr:\n%s", s.stdout.String(), s.stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	for _, a := range []string{s.lmtp, s.imap, s.pop3} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("listener address %q is not on 127.0.0.1", a)
		}
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit (status 0), as documented
// for serve.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Errorf("SIGTERM postern: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(45 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("postern did not stop within 45s of SIGTERM")
		return
	}
	if s.waitErr != nil {
		s.t.Errorf("postern serve exited with %v after SIGTERM; stderr:\n%s", s.waitErr, tail(s.stderr.String(), 4000))
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Fatalf("SIGKILL postern: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("postern still running 30s after SIGKILL")
	}
}

// cliResult is what one postern CLI command did.
type cliResult struct {
	stdout, stderr string
	exitCode       int
}

// runCLI runs `postern --data DIR args…` with stdin, under a one-minute
// deadline, and fails the test only if it could not be run at all.
func runCLI(t *testing.T, dataDir, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"--data", dataDir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		res.exitCode = ee.ExitCode()
	default:
		t.Fatalf("postern %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errb.String())
	}
	return res
}

// addUser creates an account with the given password.
func addUser(t *testing.T, dataDir, name, password string) {
	t.Helper()
	r := runCLI(t, dataDir, password+"\n", "user", "add", name, "--password-stdin")
	if r.exitCode != 0 {
		t.Fatalf("postern user add %s: exit %d\n%s%s", name, r.exitCode, r.stdout, r.stderr)
	}
}

// mustCheck runs `postern check` and fails the test unless it exits 0.
func mustCheck(t *testing.T, dataDir string) {
	t.Helper()
	r := runCLI(t, dataDir, "", "check")
	if r.exitCode != 0 {
		t.Errorf("postern check: exit %d\nstdout:\n%s\nstderr:\n%s", r.exitCode, r.stdout, r.stderr)
		return
	}
	t.Logf("postern check: %s", strings.TrimSpace(r.stdout))
}

// runTool runs an external program under a deadline and returns its
// combined output; it fails the test only when the program could not start.
func runTool(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", name, timeout, err)
	}
	return out.String(), err
}

// needTool returns the path of an external program. When it is missing
// the test is skipped locally but fails under CI (inCI, as .ci/run sets
// it), where every interop peer is installed and a skip would hide a lost
// test.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if inCI() {
			t.Fatalf("%s not installed but CI is set: the CI machine must have it (apt-get install -y %s)", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install -y %s)", name, pkg)
	}
	return p
}

// inCI tells whether the environment variable CI asks for a CI run: set,
// and not "0" or "false".
func inCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestNeedToolUnderCI runs this test binary again on
// TestNeedToolMissingHelper (needTool of a program that does not exist):
// with CI set it must fail, without CI it must skip.
func TestNeedToolUnderCI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"1", true, "not installed but CI is set"},
		{"", false, "postern-no-such-tool not installed (apt-get install -y no-such-package)"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestNeedToolMissingHelper$", "-test.v", "-test.count=1")
		// POSTERN_E2E_BIN: no build of postern in the child's TestMain.
		cmd.Env = append(os.Environ(), "CI="+tc.ci, "POSTERN_E2E_NEEDTOOL_HELPER=1", "POSTERN_E2E_BIN=/nonexistent")
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if failed := errors.As(err, &ee); failed != tc.wantFail || err != nil && !failed {
			t.Errorf("CI=%q: exit %v, want failure %v\n%s", tc.ci, err, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("CI=%q: output lacks %q:\n%s", tc.ci, tc.want, out)
		}
	}
}

// TestNeedToolMissingHelper is run by TestNeedToolUnderCI only.
func TestNeedToolMissingHelper(t *testing.T) {
	if os.Getenv("POSTERN_E2E_NEEDTOOL_HELPER") == "" {
		t.Skip("run by TestNeedToolUnderCI")
	}
	needTool(t, "postern-no-such-tool", "no-such-package")
	t.Log("needTool returned")
}
