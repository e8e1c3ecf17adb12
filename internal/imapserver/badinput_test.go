package imapserver

import (
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.ok("SELECT INBOX")
	c.bad("FETCH")                                         // missing arguments
	c.bad("NOOP extra")                                    // extra arguments
	c.bad("BOGUS")                                         // unknown command
	c.bad("FETCH 1:2,* " + strings.Repeat("(", 200) + ")") // deep nesting
	c.bad("SELECT \"\xff\xfe\"")                           // 8-bit garbage
	c.bad("UID FETCH " + strings.Repeat("1,", 20000) + "1 FLAGS")
	c.bad("LOGIN \"unterminated")
	c.bad("UID")
	// A string literal over the limit is refused before it is sent.
	_, st := c.cmd("CREATE {2000000}")
	if !strings.HasPrefix(st, "BAD") {
		t.Fatalf("big literal: %q", st)
	}
	// Over-long line.
	_, st = c.cmd("NOOP " + strings.Repeat("x", 70000))
	if !strings.HasPrefix(st, "BAD") {
		t.Fatalf("long line: %q", st)
	}
	// Untagged garbage.
	c.send("\r\n")
	c.send("(((\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "* BAD") {
		t.Fatalf("garbage: %q", l)
	}
	// A bad command's non-synchronizing literal is skipped with it.
	c.send("x1 NOOP junk {9+}\r\nx2 NOOP\r\n\r\nx3 NOOP\r\n")
	if _, st := c.until("x1"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("x1: %q", st)
	}
	if u, st := c.until("x3"); !strings.HasPrefix(st, "OK") || len(u) != 0 {
		t.Fatalf("x3: %q %q", st, u)
	}
	// Still usable.
	c.ok("NOOP")
	u := c.ok("FETCH 1:* FLAGS")
	if len(u) != 0 {
		t.Fatalf("empty mailbox fetch: %q", u)
	}
}

func TestGarbageBeforeAuthEndsSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	for i := 0; i < maxBadBeforeAuth-1; i++ {
		c.send("x GARBAGE\r\n")
		if l := c.readLine(); !strings.HasPrefix(l, "x BAD") {
			t.Fatalf("garbage %d: %q", i, l)
		}
	}
	c.send("x GARBAGE\r\n")
	c.readLine()
	if l := c.readLine(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("want BYE, got %q", l)
	}
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.send("p1 NOOP\r\np2 CREATE pipe\r\np3 LIST \"\" pipe\r\np4 BOGUS\r\np5 NOOP\r\n")
	for _, tag := range []string{"p1", "p2", "p3"} {
		if _, st := c.until(tag); !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: %q", tag, st)
		}
	}
	if _, st := c.until("p4"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("p4: %q", st)
	}
	if _, st := c.until("p5"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("p5: %q", st)
	}
}

func TestIDAndEnable(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	u := c.ok(`ID ("name" "test" "version" NIL)`)
	has(t, u, `* ID ("name" "postern"`)
	c.ok("ID NIL")
	c.bad("ID")
	c.bad("ENABLE CONDSTORE") // not authenticated
	c.ok(`LOGIN alice "` + testPassword + `"`)
	u = c.ok("ENABLE CONDSTORE UTF8=ACCEPT X-UNKNOWN")
	has(t, u, "* ENABLED CONDSTORE UTF8=ACCEPT")
	c.bad("ENABLE")
}
