package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// needPython skips the test when python3 is absent.
func needPython(t *testing.T) {
	t.Helper()
	needTool(t, "python3", "python3")
}

// TestDemoPythonLMTPExport: `serve --demo` starts, Python's smtplib.LMTP
// delivers to demo@localhost and gets 250, and `export --user demo --format
// mbox OUT` then holds that message.
func TestDemoPythonLMTPExport(t *testing.T) {
	t.Parallel()
	needPython(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, data, true)
	if srv.password == "" {
		t.Fatalf("serve --demo printed no password; stdout:\n%s", srv.stdout.String())
	}

	msg := makeMessage("python-lmtp-1", 5)
	msgFile := filepath.Join(dir, "msg.eml")
	if err := os.WriteFile(msgFile, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(srv.lmtp, ":")
	out, err := runTool(t, time.Minute, nil, "python3", "testdata/lmtp_deliver.py", host, port, "demo@localhost", msgFile)
	if err != nil || !strings.Contains(out, "DELIVERED") || !strings.HasPrefix(out, "250") {
		t.Fatalf("smtplib.LMTP delivery: %v\n%s", err, out)
	}

	outDir := filepath.Join(dir, "export")
	r := runCLI(t, data, "", "export", "--user", "demo", "--format", "mbox", outDir)
	if r.exitCode != 0 {
		t.Fatalf("export: exit %d\n%s%s", r.exitCode, r.stdout, r.stderr)
	}
	mbox, err := os.ReadFile(filepath.Join(outDir, "INBOX.mbox"))
	if err != nil {
		t.Fatalf("export wrote no INBOX.mbox: %v (stdout %q)", err, r.stdout)
	}
	mboxLF := crlfToLF(mbox)
	if n := bytes.Count(mboxLF, []byte("\nMessage-ID: <python-lmtp-1@e2e.test>\n")); n != 1 {
		t.Fatalf("INBOX.mbox holds the delivered Message-ID %d times, want 1:\n%s", n, mbox)
	}
	// The body as sent (no line of it starts with "From ", so mboxrd
	// quoting leaves it alone) must be in the export verbatim.
	msgLF := crlfToLF(msg)
	body := msgLF[headerEnd(msgLF):]
	if !bytes.Contains(mboxLF, body) {
		t.Fatalf("INBOX.mbox lacks the delivered body:\n--- mbox\n%s\n--- body\n%s", mbox, body)
	}
	if !bytes.Contains(mboxLF, []byte("\nSubject: e2e message python-lmtp-1\n")) {
		t.Fatalf("INBOX.mbox lacks the Subject line:\n%s", mbox)
	}
	srv.stop()
	mustCheck(t, data)
}

// deliveryLog records what parallel LMTP clients sent; its fields are
// guarded by mu while the clients run.
type deliveryLog struct {
	mu      sync.Mutex
	acked   map[string]bool // IDs ("p<client>-<n>") that got 250 after DATA
	unacked map[string]bool // IDs sent whose transaction failed
	errs    []string
}

// runParallelDeliveries runs `clients` LMTP connections, each delivering
// its share of total messages to rcpt, each with the Message-ID
// "p<client>-<n>@e2e.test". A client stops at its first error (recorded,
// not fatal: the SIGKILL test expects errors). onAck, when set, is told
// the running count of 250 replies, from the clients' goroutines.
func runParallelDeliveries(t *testing.T, addr, rcpt string, clients, total int, onAck func(n int64)) *deliveryLog {
	t.Helper()
	log := &deliveryLog{acked: map[string]bool{}, unacked: map[string]bool{}}
	var acks atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := dialLMTP(addr)
			if err != nil {
				log.mu.Lock()
				log.errs = append(log.errs, fmt.Sprintf("client %d dial: %v", c, err))
				log.mu.Unlock()
				return
			}
			defer l.close()
			for i := c; i < total; i += clients {
				id := fmt.Sprintf("p%d-%d", c, i)
				err := l.deliver(rcpt, makeMessage(id, i))
				log.mu.Lock()
				if err != nil {
					log.unacked[id] = true
					log.errs = append(log.errs, fmt.Sprintf("client %d message %s: %v", c, id, err))
					log.mu.Unlock()
					return
				}
				log.acked[id] = true
				log.mu.Unlock()
				if onAck != nil {
					onAck(acks.Add(1))
				}
			}
		}()
	}
	wg.Wait()
	return log
}

// TestParallelLMTP2000: 2,000 deliveries from 4 parallel go-smtp LMTP
// clients all arrive exactly once with UIDs 1..2000, and check is clean.
func TestParallelLMTP2000(t *testing.T) {
	t.Parallel()
	const total = 2000
	data := filepath.Join(t.TempDir(), "data")
	addUser(t, data, "load", "load-password-1")
	srv := startServer(t, data, false)

	start := time.Now()
	log := runParallelDeliveries(t, srv.lmtp, "load@localhost", 4, total, nil)
	t.Logf("%d LMTP deliveries from 4 clients in %v", total, time.Since(start).Round(time.Millisecond))
	if len(log.errs) > 0 {
		t.Fatalf("%d delivery errors, first: %s", len(log.errs), log.errs[0])
	}
	if len(log.acked) != total {
		t.Fatalf("%d deliveries acknowledged, want %d", len(log.acked), total)
	}

	c := dialIMAP(t, srv.imap, "load", "load-password-1", nil)
	msgs := fetchStored(t, c, "INBOX", false)
	if len(msgs) != total {
		t.Fatalf("INBOX has %d messages, want %d", len(msgs), total)
	}
	seen := map[string]imap.UID{}
	for i, m := range msgs {
		if m.uid != imap.UID(i+1) {
			t.Fatalf("message %d has UID %d, want UIDs 1..%d in order", i+1, m.uid, total)
		}
		if !log.acked[strings.TrimSuffix(m.messageID, "@e2e.test")] {
			t.Fatalf("UID %d has Message-ID %q, which was never delivered", m.uid, m.messageID)
		}
		if prev, dup := seen[m.messageID]; dup {
			t.Fatalf("Message-ID %q stored twice: UIDs %d and %d", m.messageID, prev, m.uid)
		}
		seen[m.messageID] = m.uid
	}
	c.Logout().Wait()
	srv.stop()
	mustCheck(t, data)
}

// TestSIGKILLDuringDelivery: the server is killed with SIGKILL halfway
// through 2,000 parallel deliveries; after a restart on the same data
// directory every message that got 250 is there exactly once, no message
// is there twice, UIDs keep increasing, and check is clean.
func TestSIGKILLDuringDelivery(t *testing.T) {
	t.Parallel()
	const total = 2000
	data := filepath.Join(t.TempDir(), "data")
	addUser(t, data, "crash", "crash-password-1")
	srv := startServer(t, data, false)

	var killOnce sync.Once
	killed := make(chan struct{})
	log := runParallelDeliveries(t, srv.lmtp, "crash@localhost", 4, total, func(n int64) {
		if n >= total/2 {
			killOnce.Do(func() {
				srv.cmd.Process.Kill()
				close(killed)
			})
		}
	})
	select {
	case <-killed:
	default:
		t.Fatalf("the server was not killed: only %d deliveries acknowledged (errors: %v)", len(log.acked), log.errs)
	}
	srv.kill() // waits for the process to be gone
	t.Logf("SIGKILL after %d acknowledged deliveries; %d in flight got an error (e.g. %v)", len(log.acked), len(log.unacked), firstOf(log.errs))
	if len(log.acked) < total/2 {
		t.Fatalf("only %d acknowledged before the kill", len(log.acked))
	}

	srv2 := startServer(t, data, false)
	c := dialIMAP(t, srv2.imap, "crash", "crash-password-1", nil)
	msgs := fetchStored(t, c, "INBOX", false)
	seen := map[string]imap.UID{}
	var lastUID imap.UID
	for _, m := range msgs {
		if m.uid <= lastUID {
			t.Fatalf("UIDs not increasing: %d after %d", m.uid, lastUID)
		}
		lastUID = m.uid
		id := strings.TrimSuffix(m.messageID, "@e2e.test")
		if !log.acked[id] && !log.unacked[id] {
			t.Fatalf("UID %d has Message-ID %q, which was never sent", m.uid, m.messageID)
		}
		if prev, dup := seen[id]; dup {
			t.Fatalf("Message-ID %q stored twice after the crash: UIDs %d and %d", m.messageID, prev, m.uid)
		}
		seen[id] = m.uid
	}
	var missing []string
	for id := range log.acked {
		if _, ok := seen[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged messages lost by the crash, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	extra := len(seen) - len(log.acked)
	t.Logf("after restart: %d messages, all %d acknowledged present once, %d unacknowledged kept", len(seen), len(log.acked), extra)

	// Delivery works after the restart and the new UID is above all.
	deliverAll(t, srv2.lmtp, "crash@localhost", [][]byte{makeMessage("after-restart", 1)})
	after := fetchStored(t, c, "INBOX", false)
	if len(after) != len(msgs)+1 || after[len(after)-1].messageID != "after-restart@e2e.test" || after[len(after)-1].uid <= lastUID {
		t.Fatalf("after a delivery post-restart: %d messages (want %d), last %+v, previous top UID %d", len(after), len(msgs)+1, after[len(after)-1], lastUID)
	}
	c.Logout().Wait()
	srv2.stop()
	mustCheck(t, data)
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return s[0]
}
