package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// extraWorkloads are the IMAP and POP3 workloads.
func extraWorkloads(full bool) []workload {
	// Quick mode stays under three minutes on a fresh machine, including
	// installing Dovecot and building postern; full mode has every size the
	// issues ask for. POP3 runs are {messages, size}: full mode has 1,000
	// and 10,000 messages of 4 KiB and of 100 KiB.
	popRuns := [][2]int{{500, 4 << 10}, {300, 100 << 10}}
	nAppend4k, nAppend1m := 100, 10
	idleConns := 300
	mixedOps := 100
	small, nSmall := "fetch5k", 5000
	if full {
		small, nSmall = "fetch10k", 10000
		popRuns = [][2]int{{1000, 4 << 10}, {10000, 4 << 10}, {1000, 100 << 10}, {10000, 100 << 10}}
		nAppend4k, nAppend1m = 2000, 100
		idleConns = 10000
		mixedOps = 2000
	}
	ws, loadSmall := fetchWorkloads(small, nSmall)
	if full {
		more, load100k := fetchWorkloads("fetch100k", 100000)
		ws = append(ws, more...)
		ws = append(ws, qresyncWorkloads("fetch100k", 100000, load100k)...)
	}
	ws = append(ws,
		appendWorkload(nAppend4k, 4<<10),
		appendWorkload(nAppend1m, 1<<20),
		storeWorkload(small, nSmall, loadSmall),
	)
	ws = append(ws, qresyncWorkloads(small, nSmall, loadSmall)...)
	ws = append(ws, popWorkloads(popRuns)...)
	ws = append(ws,
		mixedWorkload(8, mixedOps),
		idleWorkload(idleConns),
	)
	ws = append(ws, idleFollowers(idleConns)...)
	if full {
		// 10,000 IDLE sessions take minutes to open on Dovecot (a process
		// each): one round per server.
		for i := range ws {
			if strings.Contains(ws[i].name, "IDLE") {
				ws[i].rounds = 1
			}
		}
	}
	return ws
}

const fetchItems = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)"

// fetchWorkloads measures FETCH and SEARCH on user's INBOX holding n
// messages; it also returns the setup that loads that mailbox.
func fetchWorkloads(user string, n int) ([]workload, func(context.Context, *target) error) {
	size := 4 << 10
	label := fmt.Sprintf("%dk", n/1000)
	loaded := map[string]bool{}
	setup := func(ctx context.Context, t *target) error {
		if loaded[t.name] {
			return nil
		}
		c, err := makeCorpus(t.scratch, n, size)
		if err != nil {
			return err
		}
		if err := loadCorpus(ctx, t, user, c); err != nil {
			return err
		}
		loaded[t.name] = true
		return nil
	}
	timed := func(command string) func(ctx context.Context, t *target) (float64, error) {
		return func(ctx context.Context, t *target) (float64, error) {
			ic, err := dialIMAP(ctx, t.imap, user, t.password)
			if err != nil {
				return 0, err
			}
			defer ic.close()
			if _, err := ic.cmd("EXAMINE INBOX"); err != nil {
				return 0, err
			}
			start := time.Now()
			lines, err := ic.cmd(command)
			if err != nil {
				return 0, err
			}
			if strings.Contains(command, "FETCH") && len(lines) != n {
				return 0, fmt.Errorf("FETCH returned %d responses, want %d", len(lines), n)
			}
			return time.Since(start).Seconds() * 1000, nil
		}
	}
	first := map[string]float64{}
	return []workload{
		{
			name: "IMAP UID FETCH 1:* meta, " + label + " msgs, first", unit: "ms", limit: 10 * time.Minute,
			note:  "first FETCH after the mailbox was loaded: Dovecot builds its index and cache here; later rounds repeat the cold measurement value of round 1",
			setup: setup,
			run: func(ctx context.Context, t *target) (float64, error) {
				if v, ok := first[t.name]; ok {
					return v, nil
				}
				v, err := timed("UID FETCH 1:* "+fetchItems)(ctx, t)
				first[t.name] = v
				return v, err
			},
		},
		{name: "IMAP UID FETCH 1:* meta, " + label + " msgs, again", unit: "ms", limit: 5 * time.Minute, setup: setup, run: timed("UID FETCH 1:* " + fetchItems)},
		{name: "IMAP UID FETCH 1:* (UID FLAGS), " + label + " msgs", unit: "ms", limit: 5 * time.Minute, setup: setup, run: timed("UID FETCH 1:* (UID FLAGS)"),
			note: "the flag scan of a client that synchronizes without CONDSTORE (mbsync, OfflineIMAP, Thunderbird's fallback)"},
		{name: "IMAP UID SEARCH FROM, " + label + " msgs", unit: "ms", limit: 5 * time.Minute, setup: setup, run: timed(`UID SEARCH FROM "sender12"`)},
		{name: "IMAP UID SEARCH SUBJECT, " + label + " msgs", unit: "ms", limit: 5 * time.Minute, setup: setup, run: timed(`UID SEARCH SUBJECT "invoice"`)},
		{name: "IMAP UID SEARCH TO, " + label + " msgs", unit: "ms", limit: 5 * time.Minute, setup: setup, run: timed(`UID SEARCH TO "team12@"`)},
		{name: "IMAP UID SEARCH TEXT, " + label + " msgs", unit: "ms", limit: 5 * time.Minute, setup: setup, run: timed(`UID SEARCH TEXT "xyzzyplugh"`),
			note: "postern's text index is built in the background; the harness waits for it after the load (the time is logged) before these rows"},
	}, setup
}

func storeWorkload(user string, n int, setup func(context.Context, *target) error) workload {
	var flip = map[string]bool{}
	return workload{
		name: fmt.Sprintf("IMAP STORE ±FLAGS \\Flagged 1:*, %dk msgs", n/1000), unit: "ms", limit: 5 * time.Minute,
		setup: setup,
		run: func(ctx context.Context, t *target) (float64, error) {
			ic, err := dialIMAP(ctx, t.imap, user, t.password)
			if err != nil {
				return 0, err
			}
			defer ic.close()
			if _, err := ic.cmd("SELECT INBOX"); err != nil {
				return 0, err
			}
			op := "+FLAGS.SILENT"
			if flip[t.name] {
				op = "-FLAGS.SILENT"
			}
			flip[t.name] = !flip[t.name]
			start := time.Now()
			if _, err := ic.cmd("STORE 1:* " + op + ` (\Flagged)`); err != nil {
				return 0, err
			}
			return time.Since(start).Seconds() * 1000, nil
		},
	}
}

func appendWorkload(n, size int) workload {
	return workload{
		name: fmt.Sprintf("IMAP APPEND %s, 1 conn", sizeName(size)), unit: "msg/s", higher: true, limit: 5 * time.Minute,
		run: func(ctx context.Context, t *target) (float64, error) {
			ic, err := dialIMAP(ctx, t.imap, "append", t.password)
			if err != nil {
				return 0, err
			}
			defer ic.close()
			start := time.Now()
			for i := 0; i < n; i++ {
				msg := makeMessage(msgSeed.Add(1), size)
				ic.tag++
				tag := fmt.Sprintf("A%d", ic.tag)
				fmt.Fprintf(ic.w, "%s APPEND INBOX (\\Seen) {%d}\r\n", tag, len(msg))
				ic.w.Flush()
				line, err := ic.readLine()
				if err != nil {
					return 0, err
				}
				if len(line) == 0 || line[0] != '+' {
					return 0, fmt.Errorf("APPEND: expected continuation, got %q", line)
				}
				ic.w.Write(msg)
				ic.w.WriteString("\r\n")
				ic.w.Flush()
				if _, err := ic.readUntil(tag, "APPEND"); err != nil {
					return 0, err
				}
			}
			return float64(n) / time.Since(start).Seconds(), nil
		},
	}
}
