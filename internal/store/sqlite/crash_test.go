package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

const crashDirEnv = "POSTERN_CRASH_TEST_DIR"

// TestCrashChild is the child half of TestCrashSafety: when the parent sets
// crashDirEnv, it delivers in a loop from four goroutines and prints every
// acknowledged UID and Message-ID until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestCrashSafety only")
	}
	ctx := context.Background()
	db, err := Open(ctx, dir, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	a, err := db.CreateAccount(ctx, "crash")
	if errors.Is(err, store.ErrAccountExists) {
		a, err = db.Account(ctx, "crash")
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	inbox, _ := db.Mailbox(ctx, a.ID, "INBOX")
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("<%d.%d.%d@crash>", os.Getpid(), g, i)
				st, err := db.Stage(ctx, strings.NewReader(testMessage(id, "crash", strings.Repeat("line of text\r\n", 1+i%50))), 0)
				if err != nil {
					fmt.Println("ERR", err)
					os.Exit(2)
				}
				res, err := db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st}})
				if err != nil || res[0].Err != nil {
					fmt.Println("ERR", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "ACK %d %s END\n", res[0].UID, id)
				out.Flush()
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
}

// TestCrashSafety kills a delivering child process with SIGKILL at random
// moments, several times, then checks that the store is consistent and
// that every message the child saw acknowledged is there.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dir := t.TempDir()
	acked := map[store.UID]string{}
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Wait for the first acknowledgement, then kill at a random moment.
		first := true
		kill := time.After(30 * time.Second)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				if len(f) == 4 && f[0] == "ACK" && f[3] == "END" {
					var uid store.UID
					fmt.Sscan(f[1], &uid)
					if prev, dup := acked[uid]; dup {
						t.Fatalf("UID %d acknowledged twice (%s, %s)", uid, prev, f[2])
					}
					acked[uid] = f[2]
					if first {
						first = false
						kill = time.After(time.Duration(50+rand.IntN(400)) * time.Millisecond)
					}
				} else if strings.HasPrefix(l, "ERR") {
					t.Fatalf("child: %s", l)
				}
			case <-kill:
				cmd.Process.Kill()
				kill = nil
			}
		}
		cmd.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("the child acknowledged nothing")
	}
	db := openTest(t, dir)
	mustClean(t, db)
	ctx := context.Background()
	a, err := db.Account(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := db.Mailbox(ctx, a.ID, "INBOX")
	uids := make([]store.UID, 0, len(acked))
	for u := range acked {
		uids = append(uids, u)
	}
	found := 0
	err = db.Fetch(ctx, a.ID, inbox.ID, uids, store.FetchOptions{Headers: true}, func(m *store.Message) error {
		if m.Headers.MessageID != acked[m.UID] {
			return fmt.Errorf("UID %d has %s, acknowledged as %s", m.UID, m.Headers.MessageID, acked[m.UID])
		}
		found++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found != len(acked) {
		t.Fatalf("%d of %d acknowledged messages present", found, len(acked))
	}
	t.Logf("%d acknowledged messages survived 4 kills", found)
}
