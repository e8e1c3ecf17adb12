package imapserver

import (
	"fmt"
	"strings"
	"testing"
)

func TestAppend(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.MaxMessageSize = 1000 })
	c := ts.login()
	other := ts.login()
	other.ok("SELECT INBOX")
	st := c.appendMsg("INBOX", `\Seen \Recent $Label`, testMessage(1))
	if !strings.HasPrefix(st, "OK [APPENDUID ") || !strings.HasSuffix(st, " 1] APPEND completed") {
		t.Fatalf("append: %q", st)
	}
	// LITERAL+ and MULTIAPPEND with a date.
	m2, m3 := testMessage(2), testMessage(3)
	c.send(fmt.Sprintf("a1 APPEND INBOX (\\Draft) \"05-Mar-2023 10:00:00 +0000\" {%d+}\r\n%s {%d+}\r\n%s\r\n", len(m2), m2, len(m3), m3))
	_, st = c.until("a1")
	if !strings.HasPrefix(st, "OK [APPENDUID ") || !strings.Contains(st, " 2:3]") {
		t.Fatalf("multiappend: %q", st)
	}
	// literal8
	c.send(fmt.Sprintf("a2 APPEND INBOX ~{%d+}\r\n%s\r\n", len(m2), m2))
	if _, st = c.until("a2"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("literal8: %q", st)
	}
	// Too big: refused before the client sends it.
	c.send("a3 APPEND INBOX {5000}\r\n")
	if _, st = c.until("a3"); !strings.HasPrefix(st, "NO [TOOBIG]") {
		t.Fatalf("too big: %q", st)
	}
	// Missing mailbox: refused before the literal.
	c.send("a4 APPEND Nowhere {10}\r\n")
	if _, st = c.until("a4"); !strings.HasPrefix(st, "NO [TRYCREATE]") {
		t.Fatalf("trycreate: %q", st)
	}
	// Missing mailbox with LITERAL+: the literal is read and dropped.
	c.send("a5 APPEND Nowhere {10+}\r\n0123456789\r\n")
	if _, st = c.until("a5"); !strings.HasPrefix(st, "NO [TRYCREATE]") {
		t.Fatalf("trycreate+: %q", st)
	}
	c.bad("APPEND INBOX")
	c.bad("APPEND INBOX (\\Bogus) {1+}\r\nx")
	u := other.ok("NOOP")
	has(t, u, "* 4 EXISTS")
	u = other.ok("FETCH 2 (FLAGS INTERNALDATE)")
	has(t, u, `\Draft`)
	has(t, u, `05-Mar-2023 10:00:00 +0000`)
	u = other.ok("FETCH 1 FLAGS")
	has(t, u, `\Seen $Label`)
	// A non-synchronizing literal over the limit ends the connection.
	c.send("a6 APPEND INBOX {5000+}\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "a6 BAD") {
		t.Fatalf("oversized literal+: %q", l)
	}
	if l := c.readLine(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("oversized literal+ bye: %q", l)
	}
}

func TestIdle(t *testing.T) {
	t.Parallel()
	forIdleModes(t, testIdle)
}

func testIdle(t *testing.T, mode func(*Options)) {
	ts := newTestServer(t, mode)
	c := filled(t, ts, 1)
	other := ts.login()
	other.ok("SELECT INBOX")
	c.send("i1 IDLE\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("idle: %q", l)
	}
	other.appendMsg("INBOX", "", testMessage(2))
	if l := c.readLine(); l != "* 2 EXISTS" {
		t.Fatalf("idle exists: %q", l)
	}
	c.readLine() // RECENT
	other.ok(`STORE 1 +FLAGS (\Flagged)`)
	if l := c.readLine(); !strings.HasPrefix(l, `* 1 FETCH (FLAGS (\Flagged`) {
		t.Fatalf("idle fetch: %q", l)
	}
	other.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	c.readLine() // FETCH for message 2
	other.ok("EXPUNGE")
	if l := c.readLine(); l != "* 2 EXPUNGE" {
		t.Fatalf("idle expunge: %q", l)
	}
	c.send("DONE\r\n")
	if _, st := c.until("i1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("idle done: %q", st)
	}
	// Idle in the authenticated state, and a bad terminator.
	a := ts.login()
	a.send("i2 IDLE\r\n")
	a.readLine()
	a.send("NOTDONE\r\n")
	if _, st := a.until("i2"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("idle bad end: %q", st)
	}
	a.ok("NOOP")
	// DONE pipelined right behind IDLE.
	a.send("i3 IDLE\r\nDONE\r\ni4 NOOP\r\n")
	a.readLine()
	if _, st := a.until("i3"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("pipelined idle: %q", st)
	}
	if _, st := a.until("i4"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("after idle: %q", st)
	}
}

func TestAppendUTF8(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.ok("ENABLE UTF8=ACCEPT")
	m := "From: a@example.com\r\nSubject: Grüße\r\n\r\nhi\r\n"
	c.send(fmt.Sprintf("u1 APPEND INBOX UTF8 (~{%d+}\r\n%s)\r\n", len(m), m))
	if _, st := c.until("u1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("utf8 append: %q", st)
	}
	c.bad("APPEND INBOX UTF8 ({2+}\r\nab)")
}
