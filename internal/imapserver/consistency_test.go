package imapserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
)

var uidRe = regexp.MustCompile(`^\* (\d+) FETCH \(UID (\d+)\)$`)

// TestConcurrentSessionsStayConsistent runs sessions that append, flag,
// expunge and move at the same time; afterwards every session's sequence
// numbers must map to the store's UIDs in order.
func TestConcurrentSessionsStayConsistent(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	setup := ts.login()
	setup.ok("CREATE Other")
	for i := 0; i < 10; i++ {
		setup.appendMsg("INBOX", "", testMessage(i))
	}
	const workers = 4
	conns := make([]*tconn, workers)
	for i := range conns {
		conns[i] = ts.login()
		conns[i].ok("SELECT INBOX")
	}
	var wg sync.WaitGroup
	for w, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for step := 0; step < 25; step++ {
				var line string
				switch r.IntN(6) {
				case 0:
					m := testMessage(100*w + step)
					line = fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m)
				case 1:
					line = fmt.Sprintf(`STORE %d +FLAGS (\Deleted)`, 1+r.IntN(3))
				case 2:
					line = "EXPUNGE"
				case 3:
					line = "UID MOVE 1:3 Other"
				case 4:
					line = "FETCH 1:* (UID FLAGS)"
				default:
					line = "SEARCH DELETED"
				}
				_, st := c.cmd(line)
				if st[:2] != "OK" && st[:2] != "NO" && st[:3] != "BAD" {
					t.Errorf("%s: %q", line, st)
				}
			}
		}()
	}
	wg.Wait()
	ctx := context.Background()
	acc, _ := ts.st.Account(ctx, "alice")
	mb, _ := ts.st.Mailbox(ctx, acc.ID, "INBOX")
	refs, err := ts.st.MessageRefs(ctx, acc.ID, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, r := range refs {
		want = append(want, int(r.UID))
	}
	for w, c := range conns {
		c.ok("NOOP")
		u := c.ok("FETCH 1:* (UID)")
		var got []int
		for i, l := range u {
			m := uidRe.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			seq, _ := strconv.Atoi(m[1])
			uid, _ := strconv.Atoi(m[2])
			if seq != len(got)+1 {
				t.Fatalf("session %d: line %d has seq %d, want %d", w, i, seq, len(got)+1)
			}
			got = append(got, uid)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("session %d sees UIDs %v, store has %v", w, got, want)
		}
	}
}
