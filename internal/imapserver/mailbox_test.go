package imapserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/postern/postern/internal/store"
)

func TestCreateDeleteRename(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login()
	other := ts.login()
	c.ok("CREATE Work")
	c.ok("CREATE Work/Projects/")
	_, st := c.cmd("CREATE inbox")
	if !strings.HasPrefix(st, "NO [ALREADYEXISTS]") {
		t.Fatalf("create inbox: %q", st)
	}
	_, st = c.cmd("CREATE Work")
	if !strings.HasPrefix(st, "NO [ALREADYEXISTS]") {
		t.Fatalf("create existing: %q", st)
	}
	u := other.ok(`LIST "" "Work*"`)
	has(t, u, `* LIST (\HasChildren) "/" Work`)
	has(t, u, `* LIST (\HasNoChildren) "/" Work/Projects`)
	_, st = c.cmd("DELETE Nope")
	if !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Fatalf("delete missing: %q", st)
	}
	_, st = c.cmd("DELETE INBOX")
	if !strings.HasPrefix(st, "NO [CANNOT]") {
		t.Fatalf("delete inbox: %q", st)
	}
	c.ok("RENAME Work Job")
	u = other.ok(`LIST "" "*"`)
	has(t, u, `"/" Job/Projects`)
	hasNot(t, u, `"/" Work`)
	c.ok("DELETE Job/Projects")
	c.ok("DELETE Job")
	c.bad("CREATE")
	c.bad("DELETE a b")
	c.ok(`CREATE "Entw&APw-rfe"`)
	u = c.ok(`LIST "" Entw*`)
	has(t, u, `"/" Entw&APw-rfe`)
	c.bad(`CREATE "&Jjo"`)
	c.ok("ENABLE UTF8=ACCEPT")
	u = c.ok(`LIST "" Entw*`)
	has(t, u, `"/" "Entwürfe"`)
}

func TestCreateSpecialUse(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login()
	c.ok(`CREATE MyArchive (USE (\Archive))`)
	_, st := c.cmd(`CREATE Odd (USE (\Bogus))`)
	if !strings.HasPrefix(st, "NO [USEATTR]") {
		t.Fatalf("bogus use: %q", st)
	}
	u := c.ok(`LIST (SPECIAL-USE) "" "*"`)
	has(t, u, `\Archive) "/" MyArchive`)
	for _, l := range u {
		if !strings.Contains(l, `\`) {
			t.Fatalf("non special-use mailbox listed: %q", l)
		}
	}
}

func TestListVariants(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login()
	u := c.ok(`LIST "" ""`)
	has(t, u, `* LIST (\Noselect) "/" ""`)
	u = c.ok(`LIST "" "%"`)
	has(t, u, `"/" INBOX`)
	has(t, u, `\Sent`)
	u = c.ok(`LIST "" "inbox"`)
	has(t, u, `"/" INBOX`)
	c.ok("CREATE a/b/c")
	u = c.ok(`LIST "a" "%"`)
	has(t, u, `"/" a/b`)
	hasNot(t, u, `a/b/c`)
	c.ok("SUBSCRIBE a/b/c")
	u = c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`)
	has(t, u, `"/" a ("CHILDINFO" ("SUBSCRIBED"))`)
	u = c.ok(`LIST "" ("INBOX" "a/*") RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UIDNEXT))`)
	has(t, u, `\Subscribed) "/" a/b/c`)
	has(t, u, `* STATUS INBOX (MESSAGES 0 UIDNEXT 1)`)
	u = c.ok(`LSUB "" "*"`)
	has(t, u, `* LSUB () "/" a/b/c`)
	c.ok("UNSUBSCRIBE a/b/c")
	u = c.ok(`LSUB "" "*"`)
	hasNot(t, u, "a/b/c")
	c.bad(`LIST (BOGUS) "" "*"`)
	c.bad(`LIST "" "*" RETURN (BOGUS)`)
	c.bad(`LIST ""`)
	u = c.ok("NAMESPACE")
	has(t, u, `* NAMESPACE (("" "/")) NIL NIL`)
}

func TestStatus(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login()
	c.appendMsg("INBOX", `\Seen`, testMessage(1))
	c.appendMsg("INBOX", "", testMessage(2))
	u := c.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT MAILBOXID)")
	has(t, u, "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY ")
	has(t, u, "UNSEEN 1 DELETED 0 SIZE ")
	has(t, u, "APPENDLIMIT 52428800")
	_, st := c.cmd("STATUS Nope (MESSAGES)")
	if !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Fatalf("status missing: %q", st)
	}
	c.bad("STATUS INBOX (BOGUS)")
	c.bad("STATUS INBOX")
}

func TestNotAuthenticatedRefusals(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	for _, cmd := range []string{"LIST \"\" *", "CREATE x", "STATUS INBOX (MESSAGES)", "APPEND INBOX {1+}\r\nx", "ENABLE CONDSTORE", "IDLE", "FETCH 1 FLAGS"} {
		c.bad(cmd)
	}
	a := ts.login()
	a.bad("AUTHENTICATE PLAIN")
	a.bad("STARTTLS")
	a.ok("CAPABILITY")
	a.ok("ID NIL")
	for _, cmd := range []string{"FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "EXPUNGE", "CLOSE", "UNSELECT", "SEARCH ALL", "COPY 1 INBOX", "CHECK"} {
		a.bad(cmd)
	}
	a.ok("SELECT INBOX")
	a.bad(`LOGIN alice "` + testPassword + `"`)
	a.ok("NOOP")
	a.ok("CAPABILITY")
	a.ok("LOGOUT")
}

func TestLoginWithLiterals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	c.send("l1 LOGIN {5}\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	c.send("alice {" + strconv.Itoa(len(testPassword)) + "+}\r\n" + testPassword + "\r\n")
	if _, st := c.until("l1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("login with literals: %q", st)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	acc, err := ts.st.Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.st.SetQuota(ctx, acc.ID, store.Quota{StorageBytes: 10 << 20, Messages: 2}); err != nil {
		t.Fatal(err)
	}
	c := ts.login()
	c.appendMsg("INBOX", "", testMessage(1))
	u := c.ok("GETQUOTAROOT INBOX")
	has(t, u, `* QUOTAROOT INBOX ""`)
	has(t, u, `* QUOTA "" (STORAGE 1 10240 MESSAGE 1 2)`)
	c.ok(`GETQUOTA ""`)
	c.no(`GETQUOTA "other"`)
	c.no(`SETQUOTA "" (STORAGE 1)`)
	c.appendMsg("INBOX", "", testMessage(2))
	c.send(fmt.Sprintf("q1 APPEND INBOX {%d+}\r\n%s\r\n", len(testMessage(3)), testMessage(3)))
	if _, st := c.until("q1"); !strings.HasPrefix(st, "NO [OVERQUOTA]") {
		t.Fatalf("over quota: %q", st)
	}
}

func TestListSubscribedNonExistent(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.ok("CREATE Gone")
	c.ok("SUBSCRIBE Gone")
	c.ok("DELETE Gone")
	u := c.ok(`LIST (SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)`)
	has(t, u, `* LIST (\NonExistent \Subscribed) "/" Gone`)
	u = c.ok(`LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))`)
	has(t, u, `\Trash) "/" Trash`)
	has(t, u, `* STATUS Trash (MESSAGES 0 UNSEEN 0)`)
	hasNot(t, u, "Gone")
	u = c.ok(`LSUB "" "*"`)
	has(t, u, `* LSUB (\Noselect) "/" Gone`)
}
