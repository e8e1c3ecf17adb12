package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/server"
)

var (
	listenerLine = regexp.MustCompile(`^  (lmtp|smtp|imap|imaps|pop3|pop3s)\s+(\S+)\s+\(`)
	demoPassword = regexp.MustCompile(`^  password: (\S+)$`)
)

// startServe starts `postern serve` with args and reads its banner until
// the line matching until. It returns the process, the bound listener
// addresses and the demo password (if printed).
func (c *cli) startServe(until string, args ...string) (*exec.Cmd, map[string]string, string, *bytes.Buffer) {
	c.t.Helper()
	cmd := exec.Command(posternBin, append([]string{"--data", c.data, "serve"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	type banner struct {
		addrs    map[string]string
		password string
		err      error
	}
	done := make(chan banner, 1)
	go func() {
		b := banner{addrs: map[string]string{}}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if m := listenerLine.FindStringSubmatch(line); m != nil {
				b.addrs[m[1]] = m[2]
			}
			if m := demoPassword.FindStringSubmatch(line); m != nil {
				b.password = m[1]
			}
			if strings.HasPrefix(line, until) {
				done <- b
				// Keep draining so the server never blocks on stdout.
				for sc.Scan() {
				}
				return
			}
		}
		b.err = errors.New("server output ended before the banner was complete")
		done <- b
	}()
	select {
	case b := <-done:
		if b.err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			c.t.Fatalf("%v; stderr:\n%s", b.err, stderr.String())
		}
		return cmd, b.addrs, b.password, &stderr
	case <-time.After(60 * time.Second):
		c.t.Fatalf("no banner within a minute; stderr:\n%s", stderr.String())
	}
	return nil, nil, "", nil
}

// stopServe sends SIGTERM and returns the exit code.
func stopServe(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) int {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not exit after SIGTERM; stderr:\n%s", stderr.String())
		return -1
	}
}

// python runs a python3 script with args and returns its output.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not available")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

const lmtpScript = `
import smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
s = smtplib.LMTP(host, int(port), timeout=30)
msg = "From: tester@example.org\r\nTo: demo@localhost\r\nSubject: Sent over LMTP by smtplib\r\n\r\nHello from Python.\r\n"
refused = s.sendmail("tester@example.org", ["demo@localhost"], msg)
s.quit()
print("refused", refused)
`

const pop3Script = `
import poplib, sys
host, port = sys.argv[1].rsplit(":", 1)
m = poplib.POP3(host, int(port), timeout=30)
m.user(sys.argv[2])
m.pass_(sys.argv[3])
print("stat", m.stat()[0])
m.quit()
`

const imapScript = `
import imaplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
m = imaplib.IMAP4(host, int(port), timeout=30)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m.starttls(ssl_context=ctx)
m.login(sys.argv[2], sys.argv[3])
typ, data = m.select("INBOX")
print("select", typ, data[0].decode())
m.logout()
`

func TestServeDemo(t *testing.T) {
	c := newCLI(t)
	cmd, addrs, password, stderr := c.startServe("  LMTP ", "--demo",
		"--lmtp", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--imaps", "127.0.0.1:0",
		"--pop3", "127.0.0.1:0", "--pop3s", "127.0.0.1:0")
	for _, name := range []string{"lmtp", "imap", "imaps", "pop3", "pop3s"} {
		a := addrs[name]
		if _, port, err := net.SplitHostPort(a); err != nil || port == "0" {
			t.Fatalf("%s address %q", name, a)
		}
	}
	if _, ok := addrs["smtp"]; ok {
		t.Fatal("smtp is on by default")
	}
	if password == "" {
		t.Fatal("no demo password printed")
	}
	if _, err := os.Stat(filepath.Join(c.data, "tls", "cert.pem")); err != nil {
		t.Fatalf("self-signed certificate: %v", err)
	}

	if out := python(t, lmtpScript, addrs["lmtp"]); !strings.Contains(out, "refused {}") {
		t.Fatalf("LMTP delivery: %s", out)
	}
	if out := python(t, pop3Script, addrs["pop3"], "demo", password); !strings.Contains(out, "stat 2") {
		t.Fatalf("POP3 with the demo password: %s", out)
	}

	if out := python(t, imapScript, addrs["imap"], "demo", password); !strings.Contains(out, "select OK 2") {
		t.Fatalf("IMAP with the demo password: %s", out)
	}

	// Export works while the server runs on the same store.
	out := filepath.Join(t.TempDir(), "export")
	c.ok("", "export", "--user", "demo", "--format", "mbox", out)
	var all strings.Builder
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			all.Write(b)
		}
		return nil
	})
	if !strings.Contains(all.String(), "Subject: Sent over LMTP by smtplib") || !strings.Contains(all.String(), "Subject: Welcome to postern") {
		t.Fatalf("export lacks the delivered or the welcome message:\n%s", all.String())
	}

	if code := stopServe(t, cmd, stderr); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "postern stopped") {
		t.Fatalf("no clean stop logged:\n%s", stderr.String())
	}

	// A second --demo start keeps the account and does not print a password.
	cmd, _, password, stderr = c.startServe("  LMTP ", "--demo", "--lmtp", "127.0.0.1:0", "--imap", "",
		"--imaps", "", "--pop3", "127.0.0.1:0", "--pop3s", "")
	if password != "" {
		t.Fatal("password printed again for an existing demo account")
	}
	if code := stopServe(t, cmd, stderr); code != 0 {
		t.Fatalf("second run: exit %d; stderr:\n%s", code, stderr.String())
	}
}

func TestServeBadListener(t *testing.T) {
	c := newCLI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := c.run("", "serve", "--lmtp", "", "--imap", ln.Addr().String(), "--imaps", "", "--pop3", "", "--pop3s", "")
	if r.code != 1 || !strings.Contains(r.stderr, "listen imap on "+ln.Addr().String()) {
		t.Fatalf("busy port: %v", r)
	}
	r = c.run("", "serve", "--imap", "nonsense")
	if r.code != 1 || !strings.Contains(r.stderr, "listen.imap") {
		t.Fatalf("bad address: %v", r)
	}
}

// peerFingerprint handshakes with an implicit-TLS listener and returns the
// server certificate's fingerprint.
func peerFingerprint(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	return server.Fingerprint(c.ConnectionState().PeerCertificates[0].Raw)
}

// pemFingerprint is the SHA-256 fingerprint of the first certificate in a
// PEM file.
func pemFingerprint(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	return server.Fingerprint(block.Bytes)
}

// copyAtomic replaces dst with src's bytes by rename, as certificate tools
// do.
func copyAtomic(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".new", dst); err != nil {
		t.Fatal(err)
	}
}

func TestServeSIGHUPReloadsCertificates(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	oldDir, newDir := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	for _, d := range []string{oldDir, newDir} {
		if _, err := server.EnsureSelfSigned(d, "mail.example.org"); err != nil {
			t.Fatal(err)
		}
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	oldCert, oldKey := server.SelfSignedPaths(oldDir)
	newCert, newKey := server.SelfSignedPaths(newDir)
	copyAtomic(t, oldCert, certPath)
	copyAtomic(t, oldKey, keyPath)
	cfgPath := filepath.Join(dir, "postern.toml")
	cfg := fmt.Sprintf("[tls]\nreload_interval = \"0s\"\n\n[[tls.certificate]]\ncert = %q\nkey = %q\n", certPath, keyPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, addrs, _, stderr := c.startServe("  SHA-256 fingerprint", "--config", cfgPath, "--log-format", "json",
		"--lmtp", "", "--imap", "", "--pop3", "", "--pop3s", "", "--imaps", "127.0.0.1:0")
	fpOld := peerFingerprint(t, addrs["imaps"])
	if want := pemFingerprint(t, oldCert); fpOld != want {
		t.Fatalf("serving %s, want the old certificate %s", fpOld, want)
	}

	// An IMAPS session opened before the reload.
	held, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addrs["imaps"], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer held.Close()
	held.SetDeadline(time.Now().Add(60 * time.Second))
	heldR := bufio.NewReader(held)
	if greeting, err := heldR.ReadString('\n'); err != nil || !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("greeting %q, %v", greeting, err)
	}

	copyAtomic(t, newKey, keyPath)
	copyAtomic(t, newCert, certPath)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if fp := peerFingerprint(t, addrs["imaps"]); fp != fpOld {
			if want := pemFingerprint(t, newCert); fp != want {
				t.Fatalf("after SIGHUP serving %s, want the new certificate %s", fp, want)
			}
			break
		}
		if i == 200 {
			t.Fatalf("certificate not reloaded after SIGHUP; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The session opened before the reload goes on, on the old
	// certificate.
	for i := range 3 {
		tag := fmt.Sprintf("n%d", i)
		if _, err := fmt.Fprintf(held, "%s NOOP\r\n", tag); err != nil {
			t.Fatalf("NOOP on the connection opened before the reload: %v", err)
		}
		for {
			line, err := heldR.ReadString('\n')
			if err != nil {
				t.Fatalf("connection opened before the reload: %v (partial %q)", err, line)
			}
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					t.Fatalf("NOOP after the reload: %q", line)
				}
				break
			}
		}
	}
	if fp := server.Fingerprint(held.ConnectionState().PeerCertificates[0].Raw); fp != fpOld {
		t.Fatalf("the open connection's certificate changed: %s", fp)
	}
	fmt.Fprintf(held, "z LOGOUT\r\n")
	if code := stopServe(t, cmd, stderr); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"reloaded TLS certificates"`) {
		t.Fatalf("no JSON reload log line:\n%s", stderr.String())
	}
}
