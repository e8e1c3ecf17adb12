package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// posternBin is the binary built once by TestMain.
var posternBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "postern-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	posternBin = filepath.Join(dir, "postern")
	build := exec.Command("go", "build", "-o", posternBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building postern:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs the binary against one data directory.
type cli struct {
	t    *testing.T
	data string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, data: filepath.Join(t.TempDir(), "data")}
}

// run runs postern --data DIR args... with stdin and returns its result.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, posternBin, append([]string{"--data", c.data}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		c.t.Fatalf("running postern %v: %v", args, err)
	}
	return r
}

// ok runs a command that must succeed.
func (c *cli) ok(stdin string, args ...string) result {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("postern %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// fails runs a command that must exit with code and mention want on
// stderr.
func (c *cli) fails(code int, want string, args ...string) result {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		c.t.Fatalf("postern %s: want exit %d with %q, got %v", strings.Join(args, " "), code, want, r)
	}
	return r
}

var passwordLine = regexp.MustCompile(`(?m)^password: (\S+)$`)

func TestVersionAndHelp(t *testing.T) {
	c := newCLI(t)
	r := c.ok("", "version")
	if !strings.HasPrefix(r.stdout, "postern ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("version: %q", r.stdout)
	}
	r = c.ok("", "--help")
	for _, cmd := range []string{"serve", "user", "mailbox", "deliver", "import", "export", "check", "config", "--data"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("--help does not mention %s", cmd)
		}
	}
	r = c.ok("", "serve", "--help")
	for _, flag := range []string{"--lmtp", "--smtp", "--imap", "--imaps", "--pop3", "--pop3s", "--demo", "SIGHUP"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("serve --help does not mention %s", flag)
		}
	}
	c.fails(2, "unknown command", "frobnicate")
	c.fails(2, "unknown flag", "user", "list", "--bogus")
}

func TestConfigCommands(t *testing.T) {
	c := newCLI(t)
	ex := c.ok("", "config", "example").stdout
	if !strings.Contains(ex, "[listen]") || !strings.Contains(ex, "max_message_size") {
		t.Fatalf("example: %s", ex)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte(ex), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := c.ok("", "config", "check", good); !strings.Contains(r.stdout, "OK") {
		t.Fatalf("check: %v", r)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[listen]\nimap = \"127.0.0.1:143\"\nimpa = \"x\"\n[limits]\nmax_connections = -5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.fails(1, bad+":3: listen.impa: unknown key", "config", "check", bad)
	badValue := filepath.Join(dir, "badvalue.toml")
	if err := os.WriteFile(badValue, []byte("[limits]\n\nmax_connections = \"lots\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.fails(1, badValue+":3: limits.max_connections: ", "config", "check", badValue)
	// A bad config file stops every command, naming the key.
	c.fails(1, "limits.max_connections", "--config", badValue, "user", "list")
}
