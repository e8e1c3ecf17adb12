package authe2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
)

// TestThrottleCurve drives auth's Throttle through 100 failed logins from
// one address against one account (the throttle the server builds into
// every auth.Service) and logs the delay before each next attempt. The
// account's usual address stays unaffected.
func TestThrottleCurve(t *testing.T) {
	t.Parallel()
	th := auth.NewThrottle()
	attacker := netip.MustParseAddr("127.0.0.1")
	usual := netip.MustParseAddr("127.0.0.2")
	elsewhere := netip.MustParseAddr("127.0.0.3")
	th.Succeeded(usual, "alice")

	var curve []time.Duration
	var total time.Duration
	for range 100 {
		th.Failed(attacker, "alice")
		d := th.Delay(attacker, "alice")
		curve = append(curve, d)
		total += d
	}
	// Log the curve compactly: runs of equal delays collapse.
	var b strings.Builder
	for i := 0; i < len(curve); {
		j := i
		for j+1 < len(curve) && curve[j+1] == curve[i] {
			j++
		}
		if j == i {
			fmt.Fprintf(&b, "after failure %d: %v\n", i+1, curve[i])
		} else {
			fmt.Fprintf(&b, "after failures %d-%d: %v each\n", i+1, j+1, curve[i])
		}
		i = j + 1
	}
	t.Logf("delay before the next attempt from %v:\n%s100 attempts would wait %v in all", attacker, b.String(), total)

	if curve[0] <= 0 {
		t.Fatalf("no delay after the first failure: %v", curve[0])
	}
	for i := 1; i < len(curve); i++ {
		if curve[i] < curve[i-1] {
			t.Fatalf("delay shrank after failure %d: %v < %v", i+1, curve[i], curve[i-1])
		}
	}
	if curve[0] != 250*time.Millisecond || curve[1] != 500*time.Millisecond || curve[99] != 16*time.Second {
		t.Errorf("curve %v, %v … %v; want 250ms, 500ms … 16s (the documented doubling and cap)", curve[0], curve[1], curve[99])
	}
	if total < 25*time.Minute {
		t.Errorf("100 attempts would wait only %v", total)
	}
	if d := th.Delay(usual, "alice"); d != 0 {
		t.Errorf("alice's usual address waits %v", d)
	}
	if d := th.Delay(attacker, "bob"); d != curve[99] {
		t.Errorf("the attacking address trying another name waits %v, want %v", d, curve[99])
	}
	if d := th.Delay(elsewhere, "alice"); d == 0 {
		t.Error("a new address trying the attacked name is not slowed")
	}
	if d := th.Delay(elsewhere, "bob"); d != 0 {
		t.Errorf("an unrelated address and name wait %v", d)
	}
}

// TestThrottleOverIMAP fails a few LOGINs over the wire from 127.0.0.1 and
// checks that each waits at least the throttle's delay, then that alice's
// correct LOGIN from her usual 127.0.0.2 goes through while a correct
// LOGIN from 127.0.0.1 is still held in its 16 s penalty.
func TestThrottleOverIMAP(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	e.addAccount("alice", "alice pass", false)

	// Alice logs in from her usual address first.
	usual, _ := mustDial(t, e.addrs["imap"], "127.0.0.2", nil)
	if _, tagged := usual.imap("LOGIN alice \"alice pass\""); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("first LOGIN from 127.0.0.2: %s", tagged)
	}

	// Seven wrong passwords from 127.0.0.1: the throttle waits 0, 250 ms,
	// 500 ms, 1 s, 2 s, 4 s, 8 s before each (about 16 s in all); after
	// them the address's next check waits 16 s.
	attacker, _ := mustDial(t, e.addrs["imap"], "127.0.0.1", nil)
	var took []string
	for i := range 7 {
		start := time.Now()
		_, tagged := attacker.imap(fmt.Sprintf("LOGIN alice \"guess %d\"", i))
		d := time.Since(start)
		took = append(took, fmt.Sprintf("%d: %v", i+1, d.Round(time.Millisecond)))
		if !strings.HasPrefix(tagged, "NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("wrong password %d: %s", i+1, tagged)
		}
		if i > 0 {
			// A lower bound only: the throttle sleeps at least this long.
			if min := 250 * time.Millisecond << (i - 1); d < min {
				t.Errorf("wrong password %d answered after %v, before the throttle's %v", i+1, d, min)
			}
		}
	}
	t.Logf("wrong passwords from 127.0.0.1 over IMAP, time to the NO:\n%s", strings.Join(took, "\n"))

	// A correct LOGIN from 127.0.0.1 now waits out the 16 s penalty...
	heldConn, _ := mustDial(t, e.addrs["imap"], "127.0.0.1", nil)
	heldConn.write("h LOGIN alice \"alice pass\"\r\n")
	held := make(chan string, 1)
	go func() {
		line, err := heldConn.readLineErr()
		if err != nil {
			line = err.Error()
		}
		held <- line
	}()

	// ...while alice from 127.0.0.2 is not slowed at all.
	start := time.Now()
	c, _ := mustDial(t, e.addrs["imap"], "127.0.0.2", nil)
	if _, tagged := c.imap("LOGIN alice \"alice pass\""); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("LOGIN from the usual address during the attack: %s", tagged)
	}
	t.Logf("correct LOGIN from 127.0.0.2 during the attack took %v", time.Since(start).Round(time.Millisecond))
	select {
	case line := <-held:
		t.Fatalf("the attacking address was not held: its LOGIN was answered %q before the usual address's", line)
	default:
	}
	select {
	case line := <-held:
		if !strings.HasPrefix(line, "h OK") {
			t.Fatalf("correct LOGIN from 127.0.0.1 after its penalty: %s", line)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the held LOGIN from 127.0.0.1 never completed")
	}
}
