package authe2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/server"
	"github.com/postern/postern/internal/store/sqlite"
)

// logBuffer collects the server's log output; slog handlers write to it
// from many sessions at once.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one running server with its own data directory and store.
type env struct {
	t     *testing.T
	dir   string
	st    *sqlite.DB
	srv   *server.Server
	addrs map[string]string // listener name → host:port
	logs  *logBuffer
	key   []byte // auth.plain_secret_key_file's key (CRAM-MD5, APOP)
}

// startServer runs a server with every TCP listener on 127.0.0.1:0, the
// self-signed certificate, CRAM-MD5 and APOP on, and a debug-level text
// log captured in env.logs. configure may change the config before New.
// The server stops when the test ends.
func startServer(t *testing.T, configure func(dir string, c *config.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, logs: &logBuffer{}, key: make([]byte, 32)}
	rand.Read(e.key)
	keyFile := filepath.Join(dir, "plain.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(e.key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Hostname = "mail.postern.test"
	cfg.Listen = config.Listen{
		IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0",
		POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0",
	}
	cfg.ShutdownTimeout = config.Duration(5 * time.Second)
	cfg.Auth.PlainSecretKeyFile = keyFile
	cfg.Auth.CRAMMD5 = true
	cfg.Auth.APOP = true
	if configure != nil {
		configure(dir, &cfg)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.DataDir, sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	srv, err := server.New(server.Options{Config: cfg, Store: st, Logger: log})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		st.Close()
		t.Fatal(err)
	}
	e.srv = srv
	e.addrs = map[string]string{}
	for _, l := range srv.Listeners() {
		e.addrs[l.Name] = l.Addr.String()
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30 s")
		}
		st.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// addAccount creates an account with a password; with plainEquivalent the
// encrypted copy for CRAM-MD5 and APOP is stored too.
func (e *env) addAccount(name, password string, plainEquivalent bool) {
	e.t.Helper()
	ctx := context.Background()
	acct, err := e.st.CreateAccount(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	opts := auth.HashOptions{}
	if plainEquivalent {
		opts.PlainSecretKey = e.key
	}
	secrets, err := auth.HashPasswordWith(password, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.SetSecrets(ctx, acct.ID, secrets); err != nil {
		e.t.Fatal(err)
	}
}

// secrets returns an account's credential records as stored now.
func (e *env) secrets(name string) map[string]string {
	e.t.Helper()
	acct, err := e.st.Account(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return acct.Secrets
}

// prefixes turns CIDR strings into the config's trusted_networks.
func prefixes(s ...string) []config.Prefix {
	out := make([]config.Prefix, len(s))
	for i, p := range s {
		out[i] = config.Prefix{Prefix: netip.MustParsePrefix(p)}
	}
	return out
}

// python runs script with python3 (path names the interpreter; "" means
// the first python3 on PATH) and returns its combined output. It fails the
// test when the script exits non-zero.
func python(t *testing.T, path, script string, env []string, args ...string) string {
	t.Helper()
	out, err := pythonRun(t, path, script, env, args...)
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return out
}

// pythonRun is python that returns the error instead of failing.
func pythonRun(t *testing.T, path, script string, env []string, args ...string) (string, error) {
	t.Helper()
	if path == "" {
		p, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("python3 not available")
		}
		path = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
