package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// mixedWorkload runs clients IMAP sessions on one mailbox, each doing ops
// operations drawn with a fixed seed: FETCH of a range's flags and
// envelopes, STORE of flags, APPEND, EXPUNGE of messages it marked deleted,
// and a NOOP/re-SELECT; the value is operations per second over all clients.
func mixedWorkload(clients, ops int) workload {
	loaded := map[string]bool{}
	return workload{
		name: fmt.Sprintf("IMAP mixed: %d clients × %d ops", clients, ops), unit: "op/s", higher: true, limit: 10 * time.Minute,
		note: "select/fetch/store/expunge/append with a fixed seed on a 1,000-message mailbox",
		setup: func(ctx context.Context, t *target) error {
			if loaded[t.name] {
				return nil
			}
			c, err := makeCorpus(t.scratch, 1000, 4<<10)
			if err != nil {
				return err
			}
			loaded[t.name] = true
			return loadCorpus(ctx, t, "mixed", c)
		},
		run: func(ctx context.Context, t *target) (float64, error) {
			start := time.Now()
			var wg sync.WaitGroup
			errc := make(chan error, clients)
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := mixedClient(ctx, t, uint64(i), ops); err != nil {
						errc <- fmt.Errorf("client %d: %w", i, err)
					}
				}()
			}
			wg.Wait()
			close(errc)
			if err := <-errc; err != nil {
				return 0, err
			}
			return float64(clients*ops) / time.Since(start).Seconds(), nil
		},
	}
}

func mixedClient(ctx context.Context, t *target, seed uint64, ops int) error {
	r := rand.New(rand.NewPCG(seed, 99))
	ic, err := dialIMAP(ctx, t.imap, "mixed", t.password)
	if err != nil {
		return err
	}
	defer ic.close()
	lines, err := ic.cmd("SELECT INBOX")
	if err != nil {
		return err
	}
	n := track(0, lines)
	for i := 0; i < ops; i++ {
		var cmd string
		switch p := r.IntN(100); {
		case p < 40 && n > 0:
			a := 1 + r.IntN(n)
			b := min(n, a+20)
			cmd = fmt.Sprintf("FETCH %d:%d (FLAGS ENVELOPE RFC822.SIZE)", a, b)
		case p < 65 && n > 0:
			cmd = fmt.Sprintf("STORE %d +FLAGS.SILENT (\\Seen)", 1+r.IntN(n))
		case p < 75 && n > 0:
			cmd = fmt.Sprintf("UID STORE %d:* +FLAGS.SILENT ($bench%d)", 1+r.IntN(n), r.IntN(4))
		case p < 85:
			msg := makeMessage(r.Uint64(), 2<<10)
			ic.tag++
			tag := fmt.Sprintf("M%d", ic.tag)
			fmt.Fprintf(ic.w, "%s APPEND INBOX {%d+}\r\n", tag, len(msg))
			ic.w.Write(msg)
			ic.w.WriteString("\r\n")
			if err := ic.w.Flush(); err != nil {
				return err
			}
			lines, err := ic.readUntil(tag, "APPEND")
			if err != nil {
				return err
			}
			n = track(n, lines)
			continue
		case p < 92 && n > 50:
			lines, err := ic.cmd(fmt.Sprintf("STORE %d +FLAGS.SILENT (\\Deleted)", 1+r.IntN(n)))
			if err != nil {
				return err
			}
			n = track(n, lines)
			cmd = "EXPUNGE"
		default:
			cmd = "NOOP"
		}
		lines, err := ic.cmd(cmd)
		if err != nil {
			return err
		}
		n = track(n, lines)
	}
	return nil
}

// track follows the mailbox size through untagged EXISTS and EXPUNGE.
func track(n int, lines []string) int {
	for _, l := range lines {
		var k int
		if _, err := fmt.Sscanf(l, "* %d EXISTS", &k); err == nil && strings.HasSuffix(l, "EXISTS") {
			n = k
		} else if strings.HasSuffix(l, " EXPUNGE") {
			n--
		}
	}
	return n
}
