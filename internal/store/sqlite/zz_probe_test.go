package sqlite

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func TestZZProbe(t *testing.T) {
	db := openTest(t, "")
	a, inbox := mustAccount(t, db, "probe")
	ctx := context.Background()
	body := strings.Repeat(strings.Repeat("x", 70)+"\r\n", 56)
	var stageNs, appendNs atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				t0 := time.Now()
				st, _ := db.Stage(ctx, strings.NewReader(testMessage(fmt.Sprintf("<%d.%d@p>", g, i), "p", body)), 0)
				t1 := time.Now()
				db.Append(ctx, []store.AppendRequest{{Account: a.ID, Mailbox: inbox.ID, Message: st}})
				t2 := time.Now()
				stageNs.Add(int64(t1.Sub(t0)))
				appendNs.Add(int64(t2.Sub(t1)))
			}
		}(g)
	}
	wg.Wait()
	el := time.Since(start)
	c, j := db.Stats()
	t.Logf("elapsed %v, %.0f msg/s, stage avg %v, append avg %v, commits %d jobs %d", el, 320/el.Seconds(), time.Duration(stageNs.Load()/320), time.Duration(appendNs.Load()/320), c, j)
}
