package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const popCount = 100

// popFixture is a server whose account "popper" holds popCount messages
// delivered over LMTP, with their stored form (what IMAP BODY.PEEK[]
// returns) by Message-ID.
type popFixture struct {
	srv      *server
	data     string
	user     string
	password string
	stored   map[string][]byte // Message-ID → stored bytes (CRLF)
}

func newPopFixture(t *testing.T) *popFixture {
	t.Helper()
	f := &popFixture{data: filepath.Join(t.TempDir(), "data"), user: "popper", password: "pop-password-1", stored: map[string][]byte{}}
	addUser(t, f.data, f.user, f.password)
	f.srv = startServer(t, f.data, false)
	f.deliver(t, "pop")
	return f
}

// deliver sends popCount new messages (Message-IDs prefix-N@e2e.test) over
// LMTP and records their stored form, checking that each is the message as
// sent with only Return-Path: and Delivered-To: prepended.
func (f *popFixture) deliver(t *testing.T, prefix string) {
	t.Helper()
	sent := map[string][]byte{}
	var msgs [][]byte
	for i := 0; i < popCount; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		m := makeMessage(id, i*7)
		sent[id+"@e2e.test"] = m
		msgs = append(msgs, m)
	}
	deliverAll(t, f.srv.lmtp, f.user+"@localhost", msgs)
	c := dialIMAP(t, f.srv.imap, f.user, f.password, nil)
	got := fetchStored(t, c, "INBOX", true)
	c.Logout().Wait()
	if len(got) != popCount {
		t.Fatalf("INBOX holds %d messages, want %d", len(got), popCount)
	}
	clear(f.stored)
	for _, m := range got {
		orig, ok := sent[m.messageID]
		if !ok {
			t.Fatalf("unexpected message %q in INBOX", m.messageID)
		}
		if !bytes.HasSuffix(m.body, orig) {
			t.Fatalf("stored %s does not end with the message as sent:\n%s", m.messageID, m.body)
		}
		prefix := m.body[:len(m.body)-len(orig)]
		var names []string
		for _, line := range strings.Split(strings.TrimSuffix(string(prefix), "\r\n"), "\r\n") {
			name, _, _ := strings.Cut(line, ":")
			names = append(names, strings.ToLower(name))
		}
		if strings.Join(names, ",") != "return-path,delivered-to" {
			t.Fatalf("stored %s: delivery prepended %q, want Return-Path: and Delivered-To:", m.messageID, prefix)
		}
		f.stored[m.messageID] = m.body
	}
}

// compareFiles checks that files (one message each, as a POP3 client wrote
// them) are exactly the stored messages, each once, after transform.
func (f *popFixture) compareFiles(t *testing.T, files []string, transform func([]byte) []byte) {
	t.Helper()
	var msgs [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	f.compareMessages(t, files, msgs, transform)
}

// compareMessages is compareFiles for messages held in memory; names say
// where each came from.
func (f *popFixture) compareMessages(t *testing.T, names []string, msgs [][]byte, transform func([]byte) []byte) {
	t.Helper()
	if len(msgs) != len(f.stored) {
		t.Fatalf("%d messages written, want %d", len(msgs), len(f.stored))
	}
	seen := map[string]string{}
	for i, b := range msgs {
		name := names[i]
		m := messageIDField.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no Message-ID:\n%s", name, b)
		}
		id := string(m[1])
		if prev, dup := seen[id]; dup {
			t.Fatalf("%s retrieved twice (%s and %s)", id, prev, name)
		}
		seen[id] = name
		want, ok := f.stored[id]
		if !ok {
			t.Fatalf("%s holds unknown message %s", name, id)
		}
		if want = transform(want); !bytes.Equal(b, want) {
			t.Fatalf("%s (%s) differs from the stored message:\n--- got (%d bytes)\n%q\n--- want (%d bytes)\n%q", name, id, len(b), b, len(want), want)
		}
	}
}

func (f *popFixture) expectStat(t *testing.T, wantCount int) {
	t.Helper()
	n, size := pop3Stat(t, f.srv.pop3, f.user, f.password)
	if n != wantCount {
		t.Fatalf("POP3 STAT: %d messages (%d octets), want %d", n, size, wantCount)
	}
	if wantCount == 0 && size != 0 {
		t.Fatalf("POP3 STAT: empty maildrop with %d octets", size)
	}
}

// TestPOP3Python: poplib lists, retrieves (byte-identical to the stored
// form) and deletes 100 messages delivered over LMTP.
func TestPOP3Python(t *testing.T) {
	t.Parallel()
	needPython(t)
	f := newPopFixture(t)
	out := filepath.Join(t.TempDir(), "poplib")
	_, port, _ := strings.Cut(f.srv.pop3, ":")
	res, err := runTool(t, 2*time.Minute, nil, "python3", "testdata/pop3_python.py", "127.0.0.1", port, f.user, f.password, out, strconv.Itoa(popCount))
	if err != nil || !strings.Contains(res, "ALL STEPS PASSED") {
		t.Fatalf("poplib session failed: %v\n%s", err, tail(res, 8000))
	}
	var files []string
	for i := 1; i <= popCount; i++ {
		files = append(files, filepath.Join(out, fmt.Sprintf("%d.eml", i)))
	}
	// poplib strips the CRLF of every line and undoes dot-stuffing; the
	// script joins the lines with CRLF again, so the bytes must be exact.
	f.compareFiles(t, files, func(b []byte) []byte { return b })
	// LIST sizes are the stored sizes (RFC 1939 §5: exact octet counts).
	list, err := os.ReadFile(filepath.Join(out, "list.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		fields := strings.Fields(line)
		b, _ := os.ReadFile(files[i])
		if len(fields) != 3 || fields[1] != strconv.Itoa(len(b)) {
			t.Fatalf("LIST line %q, message is %d octets", line, len(b))
		}
	}
	f.expectStat(t, 0)
	// POP3 deletions are store expunges, so IMAP sees an empty INBOX too.
	c := dialIMAP(t, f.srv.imap, f.user, f.password, nil)
	if left := fetchStored(t, c, "INBOX", false); len(left) != 0 {
		t.Fatalf("IMAP still sees %d messages after POP3 DELE+QUIT", len(left))
	}
	c.Logout().Wait()
	f.srv.stop()
	mustCheck(t, f.data)
}

// TestFetchmail: fetchmail with an --mda that writes each message to a
// file, first in --keep mode (the maildrop keeps all 100), then in the
// default delete mode (the maildrop is empty afterwards); each run gets
// every message byte-identical.
func TestFetchmail(t *testing.T) {
	t.Parallel()
	fetchmail := needTool(t, "fetchmail", "fetchmail")
	f := newPopFixture(t)
	dir := t.TempDir()
	_, port, _ := strings.Cut(f.srv.pop3, ":")

	// run does one fetchmail poll. name picks the output directory and
	// the rc file; idfile is fetchmail's UIDL memory; opts are the poll's
	// options. It returns the files the MDA wrote and the log.
	run := func(name, idfile, opts string, wantMessages int) []string {
		t.Helper()
		out := filepath.Join(dir, name)
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		mda := filepath.Join(dir, name+"-mda.sh")
		// One file per message; mktemp keeps names unique.
		script := "#!/bin/sh\nexec cat > \"$(mktemp " + out + "/msg.XXXXXXXX)\"\n"
		if err := os.WriteFile(mda, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		// Plain POP3 on loopback (sslproto '' turns off opportunistic
		// STLS); "set invisible" stops fetchmail from adding its own
		// Received: line, so the MDA gets the message as stored.
		pollOpts := ""
		if uidl, ok := strings.CutPrefix(opts, "uidl "); ok {
			pollOpts, opts = "uidl ", uidl // a server option, on the poll line
		}
		rc := fmt.Sprintf("set no bouncemail\nset no syslog\nset invisible\n"+
			"poll 127.0.0.1 service %s protocol pop3 %sauth password timeout 30\n"+
			"  user %q there with password %q is %q here\n"+
			"  options %s sslproto '' no rewrite\n  mda %q\n", port, pollOpts, f.user, f.password, currentUser(t), opts, mda)
		rcFile := filepath.Join(dir, name+".fetchmailrc")
		if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := runTool(t, 2*time.Minute, []string{"HOME=" + dir}, fetchmail,
			"-f", rcFile, "--idfile", filepath.Join(dir, idfile), "--nodetach", "-v")
		var ee *exec.ExitError
		// Exit status 1 means "no mail" (fetchmail(1), EXIT CODES).
		if err != nil && !(wantMessages == 0 && errors.As(err, &ee) && ee.ExitCode() == 1) {
			t.Fatalf("fetchmail (%s): %v\n%s", name, err, tail(res, 8000))
		}
		if pollOpts != "" && !strings.Contains(res, "POP3> UIDL") {
			t.Fatalf("fetchmail (%s) did not use UIDL:\n%s", name, tail(res, 8000))
		}
		files, _ := filepath.Glob(filepath.Join(out, "msg.*"))
		if len(files) != wantMessages {
			t.Fatalf("fetchmail (%s) delivered %d messages to the MDA, want %d\n%s", name, len(files), wantMessages, tail(res, 8000))
		}
		return files
	}

	// fetchmail hands the MDA LF line ends (it drops the CR of every
	// CRLF) and, with "set invisible", adds no header of its own; it keeps
	// Return-Path: and Delivered-To: as stored. So the file must be the
	// stored message with CRLF turned into LF, nothing stripped.
	//
	// --keep with "uidl": fetchmail remembers the UIDLs it has seen, so a
	// second poll with the same id file fetches nothing (UIDL is stable).
	kept := run("keep", "keep.fetchids", "uidl keep", popCount)
	f.compareFiles(t, kept, crlfToLF)
	f.expectStat(t, popCount)
	run("keep-again", "keep.fetchids", "uidl keep", 0)
	f.expectStat(t, popCount)

	// The default mode deletes what it fetched; fetchall because the
	// messages were retrieved before.
	deleted := run("delete", "delete.fetchids", "fetchall", popCount)
	f.compareFiles(t, deleted, crlfToLF)
	f.expectStat(t, 0)
	f.srv.stop()
	mustCheck(t, f.data)
}

// TestGetmail: getmail6's SimplePOP3Retriever fetches 100 messages
// byte-identical and, with delete = true, leaves the maildrop empty.
//
// getmail hands each message to an LMTP server (MDA_lmtp, a sink in this
// test) rather than to a Maildir: its Maildir, Mboxrd and external-MDA
// destinations fork a child per message and install the SIGCHLD handler
// only after fork() returns, so a child that exits first is never reaped
// and getmail gives up with "waiting child pid N timed out" (often under
// parallel load). MDA_lmtp delivers in getmail's own process.
func TestGetmail(t *testing.T) {
	t.Parallel()
	getmail := needTool(t, "getmail", "getmail6")
	f := newPopFixture(t)
	sink := startLMTPSink(t)
	_, port, _ := strings.Cut(f.srv.pop3, ":")
	sinkHost, sinkPort, _ := strings.Cut(sink.addr, ":")
	getmailDir := t.TempDir()
	// received = false and delivered_to = false: getmail adds no
	// Received: or Delivered-To: line of its own.
	rc := fmt.Sprintf("[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = %s\n"+
		"username = %s\npassword = %s\ntimeout = 20\n\n"+
		"[destination]\ntype = MDA_lmtp\nhost = %s\nport = %s\noverride = sink@localhost\n\n"+
		"[options]\nread_all = true\ndelete = true\nverbose = 1\nreceived = false\ndelivered_to = false\n"+
		"message_log_syslog = false\n", port, f.user, f.password, sinkHost, sinkPort)
	rcFile := filepath.Join(getmailDir, "getmailrc")
	if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := runTool(t, 2*time.Minute, nil, getmail, "--rcfile", rcFile, "--getmaildir", getmailDir)
	if err != nil {
		t.Fatalf("getmail: %v\n%s", err, tail(res, 8000))
	}
	msgs := sink.messages()
	names := make([]string, len(msgs))
	for i := range msgs {
		names[i] = fmt.Sprintf("LMTP delivery %d", i+1)
	}
	f.compareMessages(t, names, msgs, func(b []byte) []byte { return b })
	f.expectStat(t, 0)
	f.srv.stop()
	mustCheck(t, f.data)
}

// currentUser is the local user name fetchmail delivers for.
func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	return u.Username
}
