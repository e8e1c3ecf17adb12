package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// qresyncResult is what one resynchronization round measured.
type qresyncResult struct {
	reselectMS, reselectBytes, changedSinceMS float64
}

var (
	reUIDValidity   = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
	reHighestModSeq = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
	reFetch         = regexp.MustCompile(`^\* \d+ FETCH`)
)

// qresyncWorkloads measure what a synchronizing client does after being
// away: 100 flag changes are made by another session, then the client
// reselects with QRESYNC (RFC 7162) and, separately, asks for
// FETCH 1:* (FLAGS) (CHANGEDSINCE m). The mailbox is user's loaded corpus
// of n messages.
func qresyncWorkloads(user string, n int, setup func(context.Context, *target) error) []workload {
	label := fmt.Sprintf("%dk msgs", n/1000)
	results := map[string][]qresyncResult{}
	next := map[string]map[int]int{}
	follower := func(idx int, f func(qresyncResult) float64) func(context.Context, *target) (float64, error) {
		return func(ctx context.Context, t *target) (float64, error) {
			if next[t.name] == nil {
				next[t.name] = map[int]int{}
			}
			i := next[t.name][idx]
			if i >= len(results[t.name]) {
				return 0, fmt.Errorf("no QRESYNC round measured")
			}
			next[t.name][idx] = i + 1
			return f(results[t.name][i]), nil
		}
	}
	rounds := map[string]int{}
	return []workload{
		{
			name: "QRESYNC reselect after 100 changes, " + label + ", time", unit: "ms", limit: 5 * time.Minute, setup: setup,
			note: "another session changes the flags of 100 messages, then the client reselects with (QRESYNC (uidvalidity modseq))",
			run: func(ctx context.Context, t *target) (float64, error) {
				rounds[t.name]++
				r, err := qresyncRound(ctx, t, user, n, rounds[t.name])
				if err != nil {
					return 0, err
				}
				results[t.name] = append(results[t.name], r)
				return r.reselectMS, nil
			},
		},
		{name: "QRESYNC reselect after 100 changes, " + label + ", bytes", unit: "B", limit: time.Minute, follower: true,
			run: follower(1, func(r qresyncResult) float64 { return r.reselectBytes })},
		{name: "QRESYNC client: FETCH 1:* (FLAGS) (CHANGEDSINCE m), " + label, unit: "ms", limit: time.Minute, follower: true,
			run: follower(2, func(r qresyncResult) float64 { return r.changedSinceMS })},
	}
}

func qresyncRound(ctx context.Context, t *target, user string, n, round int) (qresyncResult, error) {
	var res qresyncResult
	client, err := dialIMAP(ctx, t.imap, user, t.password)
	if err != nil {
		return res, err
	}
	if _, err := client.cmd("ENABLE QRESYNC"); err != nil {
		client.close()
		return res, err
	}
	lines, err := client.cmd("EXAMINE INBOX")
	if err != nil {
		client.close()
		return res, err
	}
	var uidValidity, modSeq uint64
	for _, l := range lines {
		if m := reUIDValidity.FindStringSubmatch(l); m != nil {
			uidValidity, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if m := reHighestModSeq.FindStringSubmatch(l); m != nil {
			modSeq, _ = strconv.ParseUint(m[1], 10, 64)
		}
	}
	client.close()
	if uidValidity == 0 || modSeq == 0 {
		return res, fmt.Errorf("EXAMINE gave no UIDVALIDITY/HIGHESTMODSEQ")
	}

	// Another session changes 100 messages spread over the mailbox.
	other, err := dialIMAP(ctx, t.imap, user, t.password)
	if err != nil {
		return res, err
	}
	if _, err := other.cmd("SELECT INBOX"); err != nil {
		other.close()
		return res, err
	}
	op := "+FLAGS.SILENT"
	if round%2 == 0 {
		op = "-FLAGS.SILENT"
	}
	for i := 0; i < 100; i++ {
		// Rounds 2k-1 and 2k set and then clear the keyword on the same messages.
		seq := 1 + (i*(n/100)+(round+1)/2)%n
		if _, err := other.cmd(fmt.Sprintf("STORE %d %s ($Resync)", seq, op)); err != nil {
			other.close()
			return res, err
		}
	}
	other.close()

	client, err = dialIMAP(ctx, t.imap, user, t.password)
	if err != nil {
		return res, err
	}
	defer client.close()
	if _, err := client.cmd("ENABLE QRESYNC"); err != nil {
		return res, err
	}
	before := client.bytes
	start := time.Now()
	lines, err = client.cmd(fmt.Sprintf("EXAMINE INBOX (QRESYNC (%d %d))", uidValidity, modSeq))
	if err != nil {
		return res, err
	}
	res.reselectMS = time.Since(start).Seconds() * 1000
	res.reselectBytes = float64(client.bytes - before)
	fetched := 0
	for _, l := range lines {
		if reFetch.MatchString(l) {
			fetched++
		}
	}
	if fetched < 100 {
		return res, fmt.Errorf("QRESYNC reselect reported %d changed messages, want at least 100", fetched)
	}
	start = time.Now()
	lines, err = client.cmd(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", modSeq))
	if err != nil {
		return res, err
	}
	res.changedSinceMS = time.Since(start).Seconds() * 1000
	if len(lines) < 100 {
		return res, fmt.Errorf("CHANGEDSINCE returned %d messages, want at least 100", len(lines))
	}
	return res, nil
}
