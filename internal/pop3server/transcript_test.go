package pop3server

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

func TestGreetingAndCapa(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.opts.LoginDelay = 90e9; c.opts.Expire = "30" })
	c := e.dial()
	if strings.Contains(c.Greeting, "<") {
		t.Fatalf("APOP timestamp without APOP: %q", c.Greeting)
	}
	c.expect("CAPA", "+OK")
	capa := c.blockLines()
	for _, want := range []string{"TOP", "UIDL", "USER", "SASL PLAIN LOGIN", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE 30", "LOGIN-DELAY 90", "IMPLEMENTATION postern", "UTF8 USER"} {
		found := false
		for _, l := range capa {
			if l == want || strings.HasPrefix(l, want+" ") || want == "SASL PLAIN LOGIN" && strings.HasPrefix(l, "SASL ") && strings.Contains(l, " PLAIN") {
				found = true
			}
		}
		if !found {
			t.Errorf("CAPA lacks %q: %q", want, capa)
		}
	}
	if slices.Contains(capa, "STLS") {
		t.Errorf("STLS offered without TLS config")
	}
	c.expect("CAPA x", "-ERR")
	c.login()
	c.expect("CAPA", "+OK")
	capa = c.blockLines()
	if slices.Contains(capa, "USER") || !slices.Contains(capa, "TOP") {
		t.Errorf("TRANSACTION CAPA: %q", capa)
	}
	c.expect("QUIT", "+OK")
}

// TestCommandsInWrongState sends every command in the state where it is not
// allowed, and checks -ERR and that the session goes on.
func TestCommandsInWrongState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 3))
	c := e.dial()
	for _, cmd := range []string{"STAT", "LIST", "LIST 1", "UIDL", "UIDL 1", "RETR 1", "TOP 1 0", "DELE 1", "RSET", "NOOP"} {
		name, _, _ := strings.Cut(cmd, " ")
		c.expect(cmd, "-ERR "+name+" not allowed in AUTHORIZATION state")
	}
	c.expect("PASS x", "-ERR Send USER first")
	for _, cmd := range []string{"LAST", "XYZZY", "LANG"} {
		c.expect(cmd, "-ERR Unknown command: "+cmd)
	}
	c.login()
	for _, cmd := range []string{"USER alice", "PASS x", "APOP alice 0123", "AUTH PLAIN", "STLS", "UTF8"} {
		name, _, _ := strings.Cut(cmd, " ")
		c.expect(cmd, "-ERR "+name+" not allowed in TRANSACTION state")
	}
	c.expect("XYZZY", "-ERR Unknown command: XYZZY")
	c.expect("NOOP", "+OK")
	c.expect("QUIT", "+OK")
	if !c.closed() {
		t.Fatal("connection open after QUIT")
	}
}

func TestTransactionCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msgs := [][]byte{testMessage(1, 10), testMessage(2, 0), []byte("Subject: no body\r\n"), testMessage(4, 7)}
	e.appendTo(e.acct, "INBOX", msgs...)
	refs := e.inboxRefs(e.acct)
	mb, _ := e.st.Mailbox(context.Background(), e.acct.ID, "INBOX")
	c := e.dial()
	c.login()
	var total int
	for _, m := range msgs {
		total += len(m)
	}
	c.expect("STAT", fmt.Sprintf("+OK 4 %d", total))
	c.expect("LIST", "+OK 4 messages")
	list := c.blockLines()
	for i, m := range msgs {
		if want := fmt.Sprintf("%d %d", i+1, len(m)); list[i] != want {
			t.Errorf("LIST line %q, want %q", list[i], want)
		}
	}
	c.expect("LIST 2", fmt.Sprintf("+OK 2 %d", len(msgs[1])))
	c.expect("UIDL", "+OK")
	uidl := c.blockLines()
	for i, r := range refs {
		if want := fmt.Sprintf("%d %08x%08x", i+1, mb.UIDValidity, uint32(r.UID)); uidl[i] != want {
			t.Errorf("UIDL line %q, want %q", uidl[i], want)
		}
	}
	c.expect("UIDL 3", fmt.Sprintf("+OK 3 %08x%08x", mb.UIDValidity, uint32(refs[2].UID)))
	for i, m := range msgs {
		c.expect(fmt.Sprintf("RETR %d", i+1), fmt.Sprintf("+OK %d octets", len(m)))
		got := c.block()
		want := m
		if !bytes.HasSuffix(want, []byte("\r\n")) {
			want = append(slices.Clone(want), '\r', '\n')
		}
		if !bytes.Equal(got, want) {
			t.Errorf("RETR %d: got %q want %q", i+1, got, want)
		}
	}
	// TOP: header, blank line, n body lines.
	hdr, body, _ := bytes.Cut(msgs[0], []byte("\r\n\r\n"))
	bodyLines := strings.SplitAfter(string(body), "\r\n")
	for _, n := range []int{0, 1, 3, 10, 50} {
		c.expect(fmt.Sprintf("TOP 1 %d", n), "+OK")
		want := string(hdr) + "\r\n\r\n" + strings.Join(bodyLines[:min(n, 10)], "")
		if got := string(c.block()); got != want {
			t.Errorf("TOP 1 %d: got %q want %q", n, got, want)
		}
	}
	c.expect("TOP 3 5", "+OK")
	if got := string(c.block()); got != string(msgs[2]) {
		t.Errorf("TOP on header-only message: %q", got)
	}
	c.expect("DELE 2", "+OK")
	c.expect("DELE 2", "-ERR")
	c.expect("RETR 2", "-ERR")
	c.expect("TOP 2 1", "-ERR")
	c.expect("LIST 2", "-ERR")
	c.expect("UIDL 2", "-ERR")
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", total-len(msgs[1])))
	c.expect("LIST", "+OK 3 messages")
	if l := c.blockLines(); len(l) != 3 || !strings.HasPrefix(l[1], "3 ") {
		t.Errorf("LIST after DELE: %q", l)
	}
	c.expect("RSET", "+OK")
	c.expect("STAT", fmt.Sprintf("+OK 4 %d", total))
	c.expect("NOOP", "+OK")
	c.expect("DELE 1", "+OK")
	c.expect("QUIT", "+OK")
	if after := e.inboxRefs(e.acct); len(after) != 3 || after[0].UID != refs[1].UID {
		t.Fatalf("after QUIT: %v", after)
	}
}

// TestExactSizes: STAT, LIST and RETR's +OK give the octets RETR sends
// before dot-stuffing, also for messages whose last line has no line end
// (RETR adds CRLF, or LF after a final CR), for bare-LF input (the store
// keeps CRLF) and for rows stored before the store recorded how a message
// ends (the server then reads the message's last octets).
func TestExactSizes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msgs := []string{
		"Subject: a\r\n\r\nno final line end",
		"Subject: b\r\n\r\nends with a lone CR\r",
		"Subject: c\n\n.bare LF\nlines\n",
		"Subject: d\r\n\r\n.terminated\r\n",
		"Subject: e\r\n\r\nstored before the store kept line ends",
	}
	want := []string{
		msgs[0] + "\r\n",
		msgs[1] + "\n",
		strings.ReplaceAll(msgs[2], "\n", "\r\n"),
		msgs[3],
		msgs[4] + "\r\n",
	}
	for _, m := range msgs {
		e.appendTo(e.acct, "INBOX", []byte(m))
	}
	refs := e.inboxRefs(e.acct)
	// The last message as an older store left it: line end unknown.
	db, err := sql.Open("sqlite", filepath.Join(e.dir, "postern.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE messages SET line_end_pad = -1 WHERE uid = ?", refs[4].UID); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.login()
	total := 0
	for _, w := range want {
		total += len(w)
	}
	c.expect("STAT", fmt.Sprintf("+OK 5 %d", total))
	c.expect("LIST", "+OK 5 messages")
	list := c.blockLines()
	for i, w := range want {
		n := i + 1
		if l := fmt.Sprintf("%d %d", n, len(w)); list[i] != l {
			t.Errorf("LIST line %q, want %q", list[i], l)
		}
		c.expect(fmt.Sprintf("LIST %d", n), fmt.Sprintf("+OK %d %d", n, len(w)))
		if l := c.cmd(fmt.Sprintf("RETR %d", n)); l != fmt.Sprintf("+OK %d octets", len(w)) {
			t.Errorf("RETR %d: %q, want %d octets", n, l, len(w))
		}
		if got := string(c.block()); got != w {
			t.Errorf("RETR %d sent %d octets %q, want %d %q", n, len(got), got, len(w), w)
		}
	}
	c.expect("QUIT", "+OK")
}

// errWithText matches "-ERR" followed by a text of at least one word.
var errWithText = regexp.MustCompile(`^-ERR (\[[A-Z/-]+\] )?[A-Za-z]{2,}[ -~]*$`)

func TestBadArguments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 2), testMessage(2, 2))
	c := e.dial()
	c.login()
	for _, cmd := range []string{
		"RETR", "RETR 0", "RETR 3", "RETR -1", "RETR +1", "RETR 1x", "RETR 99999999999999", "RETR 1 2",
		"LIST 0", "LIST 3", "LIST a", "LIST 1 2", "UIDL 9", "TOP 1", "TOP 1 -1", "TOP 9 1", "TOP x 1",
		"DELE", "DELE 3", "DELE 0", "STAT 1", "NOOP 1", "RSET 1",
		"", " ", "\x00\x01\x02", "RE\xffTR 1", strings.Repeat("A", 300), "RETR " + strings.Repeat("9", 2000),
	} {
		// -ERR, a space and a text saying what is wrong (RFC 1939 §3
		// allows the text to be empty; ours never is).
		if l := c.cmd(cmd); !errWithText.MatchString(l) {
			t.Errorf("%.40q: answer %q is not -ERR with a text", cmd, l)
		}
	}
	// Lower case works (RFC 1939 §3: keywords are case-insensitive).
	c.expect("stat", "+OK 2 ")
	c.expect("QUIT", "+OK")
}

// TestLineLimits: a command line may have maxCommandLine octets; a longer
// one, also when only its argument is long, gets -ERR with the limits and
// the session goes on. AUTH has the larger maxSASLLine, on its own line
// (initial response) and on continuation lines.
func TestLineLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	longPass := strings.Repeat("p", 3000) // PLAIN response of 4 KiB in base64
	e.addUser("longpw", longPass)
	c := e.dial()
	user := "USER " + strings.Repeat("u", maxCommandLine-len("USER "))
	c.expect(user, "+OK")
	if l := c.cmd(user + "u"); l != lineTooLong {
		t.Fatalf("USER line of %d octets: %q", len(user)+1, l)
	}
	if l := c.cmd("LIST " + strings.Repeat("1", 600)); l != lineTooLong {
		t.Fatalf("LIST with a 600-octet argument: %q", l)
	}
	if !strings.HasPrefix(lineTooLong, "-ERR Line too long: ") || !strings.Contains(lineTooLong, fmt.Sprint(maxCommandLine)) {
		t.Fatalf("answer %q lacks a text naming the limit", lineTooLong)
	}
	c.expect("NOOP", "-ERR NOOP not allowed") // still in step

	// AUTH PLAIN with a 4 KiB initial response on the command line.
	ir := plainResp("longpw", longPass)
	if len("AUTH PLAIN "+ir) <= maxCommandLine || len(ir) > maxSASLLine {
		t.Fatalf("initial response of %d octets does not test the AUTH bound", len(ir))
	}
	c.expect("AUTH PLAIN "+ir, "+OK")
	c.expect("QUIT", "+OK")

	// The same response on a continuation line.
	c = e.dial()
	c.expect("AUTH PLAIN", "+ ")
	c.expect(ir, "+OK")
	c.expect("QUIT", "+OK")

	// Past maxSASLLine: the AUTH line, and a continuation line.
	c = e.dial()
	huge := strings.Repeat("A", maxSASLLine+4)
	if l := c.cmd("AUTH PLAIN " + huge); l != lineTooLong {
		t.Fatalf("AUTH line of %d octets: %q", len(huge)+11, l)
	}
	c.expect("AUTH PLAIN", "+ ")
	c.expect(huge, "-ERR Authentication response too long")
	c.expect("AUTH PLAIN "+plainResp(testUser, testPass), "+OK")
	c.expect("STAT", "+OK 0 0")
	// In TRANSACTION the same limits hold.
	if l := c.cmd("RETR " + strings.Repeat("9", 2000)); l != lineTooLong {
		t.Fatalf("RETR with a 2000-octet argument: %q", l)
	}
	c.expect("QUIT", "+OK")
}

func TestBinaryJunkAndLongLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.dial()
	junk := make([]byte, 0, 4096)
	for i := range 4096 {
		b := byte(i * 7)
		if b == '\n' {
			b = 0
		}
		junk = append(junk, b)
	}
	c.send(string(junk[:200]), string(junk[200:]), strings.Repeat("x", 100_000))
	for range 3 {
		if l := c.line(); !strings.HasPrefix(l, "-ERR") {
			t.Fatalf("junk answered %q", l)
		}
	}
	c.expect("NOOP", "-ERR") // wrong state, but answered in order
	c.login()
	c.expect("STAT", "+OK 0 0")
	c.expect("QUIT", "+OK")
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.dial()
	c.expect("USER nobody", "+OK")
	unknown := c.cmd("PASS whatever")
	c.expect("USER "+testUser, "+OK")
	wrong := c.cmd("PASS wrong")
	if unknown != wrong || !strings.HasPrefix(wrong, "-ERR [AUTH]") {
		t.Fatalf("unknown user %q vs wrong password %q", unknown, wrong)
	}
	c.expect("PASS "+testPass, "-ERR") // USER is needed again
	c.login()
	c.expect("QUIT", "+OK")
}

func TestTooManyFailuresCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.dial()
	for i := range maxAuthFailures {
		c.expect("AUTH PLAIN "+plainResp("x"+fmt.Sprint(i), "bad"), "-ERR [AUTH]")
	}
	if l := c.line(); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Fatalf("last line %q", l)
	}
	if !c.closed() {
		t.Fatal("still open after too many failures")
	}
}

// TestGrowingAuthDelay: each failed login from an address waits longer
// before it is checked (auth.Throttle: none, then 250 ms doubling), and
// every refusal is "-ERR [AUTH]" with a text; the last failure closes the
// connection. APOP with a wrong digest is the failure: checking it costs
// microseconds, where a password check (argon2id, about 0.6 s under the
// race detector) would blur the delays.
func TestGrowingAuthDelay(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	e := newEnv(t, func(c *envConfig) { c.auth.PlainSecretKey = key; c.auth.EnableAPOP = true })
	sec, err := auth.HashPasswordWith(testPass, auth.HashOptions{PlainSecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetSecrets(context.Background(), e.acct.ID, sec); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	var took []time.Duration
	for i := range maxAuthFailures {
		start := time.Now()
		l := c.cmd("APOP " + testUser + " " + md5hex("wrong"))
		took = append(took, time.Since(start))
		if l != "-ERR [AUTH] Authentication failed" {
			t.Fatalf("failure %d: %q", i+1, l)
		}
	}
	t.Logf("answers after %v", took)
	// The delay before failure n (n > 1) is at least 250 ms << (n-2).
	for i := 1; i < len(took); i++ {
		if want := 250 * time.Millisecond << (i - 1); took[i] < want {
			t.Errorf("failure %d answered after %v, want at least %v", i+1, took[i], want)
		}
	}
	// It grows: a constant delay would make these about equal.
	if grow := took[len(took)-1] - took[1]; grow < time.Second {
		t.Errorf("last delay only %v longer than the second: %v", grow, took)
	}
	if l := c.line(); l != "-ERR [AUTH] Too many authentication failures" {
		t.Fatalf("after %d failures: %q", maxAuthFailures, l)
	}
	if !c.closed() {
		t.Fatal("still open after too many failures")
	}
}

func TestSASL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.dial()
	c.expect("AUTH", "+OK")
	if mechs := c.blockLines(); !slices.Contains(mechs, "PLAIN") {
		t.Fatalf("AUTH list %q", mechs)
	}
	c.expect("AUTH NOSUCH", "-ERR")
	c.expect("AUTH PLAIN !!notbase64", "-ERR")
	// Cancel with "*" (RFC 5034 §4).
	c.expect("AUTH PLAIN", "+ ")
	c.expect("*", "-ERR")
	// Response on its own line.
	c.expect("AUTH PLAIN", "+ ")
	c.expect(plainResp(testUser, "bad"), "-ERR [AUTH]")
	// Junk continuation.
	c.expect("AUTH LOGIN", "+ ")
	c.expect("%%%", "-ERR")
	// Initial response.
	c.expect("AUTH PLAIN "+plainResp(testUser, testPass), "+OK")
	c.expect("STAT", "+OK 0 0")
	c.expect("QUIT", "+OK")

	c = e.dial()
	c.expect("AUTH LOGIN", "+ ")
	c.expect("YWxpY2U=", "+ ") // alice
	c.expect("Y29ycmVjdCBob3JzZQ==", "+OK")
	c.expect("QUIT", "+OK")
}

func TestInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 1))
	a := e.dial()
	a.login()
	b := e.dial()
	b.expect("USER "+testUser, "+OK")
	b.expect("PASS "+testPass, "-ERR [IN-USE]")
	b.expect("AUTH PLAIN "+plainResp(testUser, testPass), "-ERR [IN-USE]")
	// The lock is per account: another account logs in meanwhile.
	e.addUser("bob", "bobpw")
	other := e.dial()
	other.expect("USER bob", "+OK")
	other.expect("PASS bobpw", "+OK")
	other.expect("QUIT", "+OK")
	a.expect("DELE 1", "+OK")
	a.expect("QUIT", "+OK")
	a.closed()
	// The lock is gone with the first session.
	b.login()
	b.expect("STAT", "+OK 0 0")
	b.expect("QUIT", "+OK")
}

// TestQuitReleasesLockBeforeAnswering logs in again the moment QUIT's +OK
// arrives, without waiting for the close; the lock must be free by then.
func TestQuitReleasesLockBeforeAnswering(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 1), testMessage(2, 1))
	for i := range 50 {
		c := e.dial()
		c.login()
		if i == 0 {
			c.expect("DELE 1", "+OK")
		}
		c.expect("QUIT", "+OK")
	}
	c := e.dial()
	c.login()
	c.expect("STAT", "+OK 1 ")
	c.expect("QUIT", "+OK")
}

func TestDroppedConnectionDeletesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 1), testMessage(2, 1))
	c := e.dial()
	c.login()
	c.expect("DELE 1", "+OK")
	c.expect("DELE 2", "+OK")
	c.conn.Close()
	// Log in again (the lock must have been released) and find both.
	for range 100 {
		d := e.dial()
		d.expect("USER "+testUser, "+OK")
		l := d.cmd("PASS " + testPass)
		if strings.HasPrefix(l, "-ERR [IN-USE]") {
			d.conn.Close()
			continue
		}
		if !strings.HasPrefix(l, "+OK") {
			t.Fatalf("login: %q", l)
		}
		d.expect("STAT", "+OK 2 ")
		d.expect("QUIT", "+OK")
		return
	}
	t.Fatal("maildrop stayed locked after the connection dropped")
}

// TestSessionCap runs POP3 under auth's per-account session cap, which it
// shares with IMAP: a slot held elsewhere (as an IMAP session holds one)
// refuses the login with [IN-USE], and a POP3 session holds one slot from
// login until QUIT or a dropped connection.
func TestSessionCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.auth.MaxSessionsPerAccount = 1 })
	e.appendTo(e.acct, "INBOX", testMessage(1, 1))

	imap, ok := e.auth.Acquire(testUser)
	if !ok {
		t.Fatal("first slot refused")
	}
	c := e.dial()
	c.expect("USER "+testUser, "+OK")
	if l := c.cmd("PASS " + testPass); !strings.HasPrefix(l, "-ERR [IN-USE]") || !strings.Contains(l, "sessions") {
		t.Fatalf("PASS with the only slot taken: %q", l)
	}
	c.expect("AUTH PLAIN "+plainResp(testUser, testPass), "-ERR [IN-USE]")
	if n := e.auth.Sessions(testUser); n != 1 {
		t.Fatalf("refused logins left %d sessions counted, want 1", n)
	}
	imap()

	// The slot is free: the same connection logs in and holds it.
	c.login()
	if n := e.auth.Sessions(testUser); n != 1 {
		t.Fatalf("sessions with POP3 logged in: %d, want 1", n)
	}
	if _, ok := e.auth.Acquire(testUser); ok {
		t.Fatal("a second session got a slot while POP3 holds the only one")
	}
	// QUIT gives it back before answering.
	c.expect("QUIT", "+OK")
	if n := e.auth.Sessions(testUser); n != 0 {
		t.Fatalf("sessions after QUIT's +OK: %d, want 0", n)
	}

	// A dropped connection gives it back too.
	d := e.dial()
	d.login()
	d.conn.Close()
	for i := 0; e.auth.Sessions(testUser) != 0; i++ {
		if i == 200 {
			t.Fatal("the slot of a dropped POP3 connection was never released")
		}
		time.Sleep(50 * time.Millisecond)
	}
	release, ok := e.auth.Acquire(testUser)
	if !ok {
		t.Fatal("slot refused after the POP3 session ended")
	}
	release()
}

// TestSessionCapAndMaildropLock checks that the two refusals stay apart:
// with room for two sessions, a second POP3 login is refused by the
// maildrop lock and does not keep the slot it took, and a refusal by the
// cap is not a login for LOGIN-DELAY.
func TestSessionCapAndMaildropLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.auth.MaxSessionsPerAccount = 2 })
	a := e.dial()
	a.login()
	b := e.dial()
	b.expect("USER "+testUser, "+OK")
	if l := b.cmd("PASS " + testPass); !strings.HasPrefix(l, "-ERR [IN-USE]") || !strings.Contains(l, "locked") {
		t.Fatalf("second POP3 login: %q, want the maildrop lock's [IN-USE]", l)
	}
	if n := e.auth.Sessions(testUser); n != 1 {
		t.Fatalf("sessions after a login refused by the maildrop lock: %d, want 1", n)
	}
	// The second slot is still free for another protocol.
	release, ok := e.auth.Acquire(testUser)
	if !ok {
		t.Fatal("the second slot was kept by the refused POP3 login")
	}
	release()
	a.expect("QUIT", "+OK")

	d := newEnv(t, func(c *envConfig) {
		c.auth.MaxSessionsPerAccount = 1
		c.opts.LoginDelay = 3600e9
	})
	held, _ := d.auth.Acquire(testUser)
	c := d.dial()
	c.expect("USER "+testUser, "+OK")
	c.expect("PASS "+testPass, "-ERR [IN-USE]")
	held()
	// Had the refused attempt counted as a login, LOGIN-DELAY would now
	// refuse this one.
	c.login()
	c.expect("QUIT", "+OK")
}

func TestMaildropFixedAtLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 1))
	c := e.dial()
	c.login()
	e.appendTo(e.acct, "INBOX", testMessage(2, 1))
	c.expect("STAT", "+OK 1 ")
	c.expect("RETR 2", "-ERR")
	c.expect("DELE 1", "+OK")
	c.expect("QUIT", "+OK")
	c.closed()
	d := e.dial()
	d.login()
	d.expect("STAT", "+OK 1 ")
	d.expect("TOP 1 0", "+OK")
	if b := d.block(); !bytes.Contains(b, []byte("Subject: test 2")) {
		t.Fatalf("second login sees %q", b)
	}
	d.expect("QUIT", "+OK")
}

// TestIMAPSideSeesDeletions watches the store's change hub the way an IMAP
// session does, and checks POP3's deletions arrive as expunges after QUIT,
// not before; RETR's \Seen arrives too.
func TestIMAPSideSeesDeletions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 1), testMessage(2, 1), testMessage(3, 1))
	refs := e.inboxRefs(e.acct)
	sub := e.st.Hub().Subscribe(e.acct.ID)
	defer sub.Close()
	c := e.dial()
	c.login()
	c.expect("RETR 2", "+OK")
	c.block()
	c.expect("TOP 3 0", "+OK")
	c.block()
	c.expect("DELE 1", "+OK")
	c.expect("DELE 3", "+OK")
	c.expect("NOOP", "+OK")
	if evs, _ := sub.Drain(); len(evs) != 0 {
		t.Fatalf("events before QUIT: %v", evs)
	}
	if got := e.inboxRefs(e.acct); len(got) != 3 {
		t.Fatalf("store changed before QUIT: %v", got)
	}
	c.expect("QUIT", "+OK")
	// +OK comes after the expunge is durable and published.
	evs, _ := sub.Drain()
	var expunged []store.UID
	seen := false
	for _, ev := range evs {
		switch ev.Kind {
		case store.EventExpunge:
			expunged = append(expunged, ev.UID)
		case store.EventFlags:
			seen = seen || ev.UID == refs[1].UID
		}
	}
	slices.Sort(expunged)
	if !slices.Equal(expunged, []store.UID{refs[0].UID, refs[2].UID}) || !seen {
		t.Fatalf("events after QUIT: %v", evs)
	}
	after := e.inboxRefs(e.acct)
	if len(after) != 1 || after[0].UID != refs[1].UID || !slices.Contains(after[0].Flags, store.FlagSeen) {
		t.Fatalf("store after QUIT: %+v", after)
	}
}

func TestPOP3MailboxSetting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.st.CreateMailbox(ctx, e.acct.ID, "pop", ""); err != nil {
		t.Fatal(err)
	}
	e.appendTo(e.acct, "INBOX", testMessage(1, 1))
	e.appendTo(e.acct, "pop", testMessage(2, 1), testMessage(3, 1))
	if err := e.st.SetSetting(ctx, e.acct.ID, settingPOP3Mailbox, "pop"); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.login()
	c.expect("STAT", "+OK 2 ")
	c.expect("QUIT", "+OK")
	c.closed()
	if err := e.st.SetSetting(ctx, e.acct.ID, settingPOP3Mailbox, "missing"); err != nil {
		t.Fatal(err)
	}
	c = e.dial()
	c.expect("USER "+testUser, "+OK")
	c.expect("PASS "+testPass, "-ERR [SYS/PERM]")
	c.expect("QUIT", "+OK")
}

func TestMarkSeenOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendTo(e.acct, "INBOX", testMessage(1, 1))
	if err := e.st.SetSetting(context.Background(), e.acct.ID, settingMarkSeen, "no"); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.login()
	c.expect("RETR 1", "+OK")
	c.block()
	c.expect("QUIT", "+OK")
	c.closed()
	if refs := e.inboxRefs(e.acct); slices.Contains(refs[0].Flags, store.FlagSeen) {
		t.Fatalf("flags %v", refs[0].Flags)
	}
}

func TestLoginDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *envConfig) { c.opts.LoginDelay = 3600e9 })
	c := e.dial()
	c.login()
	c.expect("QUIT", "+OK")
	c.closed()
	d := e.dial()
	d.expect("USER "+testUser, "+OK")
	d.expect("PASS "+testPass, "-ERR [LOGIN-DELAY]")
}

func TestUTF8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("jürgen", "pässword")
	c := e.dial()
	c.expect("UTF8 x", "-ERR")
	c.expect("UTF8", "+OK")
	c.expect("USER jürgen", "+OK")
	c.expect("PASS pässword", "+OK")
	c.expect("QUIT", "+OK")
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msgs := [][]byte{testMessage(1, 3), testMessage(2, 4)}
	e.appendTo(e.acct, "INBOX", msgs...)
	c := e.dial()
	c.send("CAPA", "USER "+testUser, "PASS "+testPass, "STAT", "RETR 1", "RETR 2", "DELE 1", "DELE 2", "QUIT")
	if l := c.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatal(l)
	}
	c.blockLines()
	for _, want := range []string{"+OK", "+OK", "+OK 2 "} {
		if l := c.line(); !strings.HasPrefix(l, want) {
			t.Fatalf("got %q want %q", l, want)
		}
	}
	for _, m := range msgs {
		c.line()
		if got := c.block(); !bytes.Equal(got, m) {
			t.Fatalf("RETR got %q", got)
		}
	}
	for _, want := range []string{"+OK", "+OK", "+OK Bye, 0 messages left"} {
		if l := c.line(); l != want && !strings.HasPrefix(l, want) {
			t.Fatalf("got %q want %q", l, want)
		}
	}
	if n := len(e.inboxRefs(e.acct)); n != 0 {
		t.Fatalf("%d left", n)
	}
}
