package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// writeJob is one write request: fn runs inside its own savepoint of a
// shared transaction. If fn fails, only its savepoint is rolled back and the
// other jobs of the batch still commit.
type writeJob struct {
	fn     func(w *wtx) error
	done   chan error
	events []store.Event
	// blobs are the blob ids the job's rows will reference. Their
	// blob.Store.Sync starts when the job is queued and reports on synced;
	// the writer waits for it just before the batch commits.
	blobs  []string
	synced chan map[string]error
}

// blobErr waits for the job's blob sync and returns its first failure.
// Only the writer goroutine calls it, once per job and batch attempt.
func (j *writeJob) blobErr() error {
	if j.synced == nil {
		return nil
	}
	failed := <-j.synced
	j.synced = nil
	for _, id := range j.blobs {
		if err := failed[id]; err != nil {
			return err
		}
	}
	return nil
}

// wtx is what a write job sees: the writer connection inside an open
// transaction. It is used by the writer goroutine only.
type wtx struct {
	db     *DB
	ctx    context.Context
	now    time.Time
	events []store.Event
}

// exec runs a statement, prepared once per writer connection.
func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.db.wstmt(w.ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.db.wstmt(w.ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(w.ctx, args...)
}

func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := w.db.wstmt(w.ctx, query)
	if err != nil {
		// Let Scan report the error through a query that cannot succeed.
		return w.db.wconn.QueryRowContext(w.ctx, query, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}

// execRaw runs a statement without caching its preparation (statements
// built at run time, e.g. with IN lists of varying length).
func (w *wtx) execRaw(query string, args ...any) (sql.Result, error) {
	return w.db.wconn.ExecContext(w.ctx, query, args...)
}

func (w *wtx) queryRaw(query string, args ...any) (*sql.Rows, error) {
	return w.db.wconn.QueryContext(w.ctx, query, args...)
}

// publish queues an event; it is written to the changelog in the same
// transaction and published on the hub after the commit.
func (w *wtx) publish(ev store.Event) { w.events = append(w.events, ev) }

// writerStmts caches prepared statements of the writer connection. Only the
// writer goroutine touches it (and Close, after the writer stopped).
type writerStmts map[string]*sql.Stmt

func (db *DB) prepareWriter(ctx context.Context) error {
	db.wstmts = make(writerStmts)
	return nil
}

func (db *DB) wstmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.wstmts[query]; ok {
		return st, nil
	}
	st, err := db.wconn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	db.wstmts[query] = st
	return st, nil
}

func (db *DB) closeWriterStmts() {
	for _, st := range db.wstmts {
		st.Close()
	}
	db.wstmts = nil
}

// write runs fn in the writer goroutine and waits until its batch has been
// committed (or fn failed). Safe for concurrent use.
func (db *DB) write(ctx context.Context, fn func(w *wtx) error) error {
	return db.writeBlobs(ctx, nil, fn)
}

// writeIdle is write for background work (the text indexer): the writer
// takes such a job only when no other job is waiting, and runs it in a
// transaction of its own, so deliveries never share a commit with it.
func (db *DB) writeIdle(ctx context.Context, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &writeJob{fn: fn, done: make(chan error, 1)}
	select {
	case db.idleJobs <- j:
	case <-db.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-j.done
}

// writeBlobs is write for a job whose rows reference blobs (Append). The
// blobs (staged, not yet synced) are synced from the moment the job is queued,
// in parallel with the writer's work on earlier batches and with the
// blobs of other jobs, and the batch commits only after they are durable:
// nothing is acknowledged before both the bytes and the rows are on disk
// (DESIGN.md §3, durability).
func (db *DB) writeBlobs(ctx context.Context, blobs []string, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &writeJob{fn: fn, done: make(chan error, 1), blobs: blobs}
	if len(blobs) > 0 {
		// Should the job not be taken (ctx, Close), the sync still ends:
		// its blobs are then durable orphans for Check.
		j.synced = make(chan map[string]error, 1)
		go func() { j.synced <- db.blobs.Sync(blobs) }()
	}
	select {
	case db.jobs <- j:
	case <-db.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, a job runs to its end: waiting for it keeps the answer
	// truthful (an Append acknowledged only when durable).
	return <-j.done
}

// writer is the single goroutine that writes. It takes the first waiting
// job, gathers every other job already waiting (up to MaxBatch) and runs
// them in one transaction: one fsync for all of them (group commit).
func (db *DB) writer() {
	defer db.wg.Done()
	maint := time.NewTicker(time.Minute)
	defer maint.Stop()
	batch := make([]*writeJob, 0, db.opts.MaxBatch)
	for {
		batch = batch[:0]
		// Jobs of callers come before background jobs.
		select {
		case j := <-db.jobs:
			batch = append(batch, j)
		default:
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			case j := <-db.idleJobs:
				db.runBatch([]*writeJob{j})
				continue
			case <-maint.C:
				db.maintain()
				continue
			case <-db.ctx.Done():
				return
			}
		}
	gather:
		for len(batch) < db.opts.MaxBatch {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		db.runBatch(batch)
	}
}

// runBatch runs jobs in one transaction and answers each of them. The
// blobs the jobs reference are being synced meanwhile (see writeBlobs);
// runBatch waits for them just before COMMIT. If some blobs cannot
// be synced, the transaction is rolled back, the jobs using them fail and
// the others run again in a new transaction.
func (db *DB) runBatch(batch []*writeJob) {
	ctx := context.Background() // a batch, once begun, is not cancelled
	w := &wtx{db: db, ctx: ctx, now: db.now()}
	answer := func(err error) {
		for _, j := range batch {
			j.done <- err
		}
	}
	// blobFailed waits for every job's blob sync; it is true when some
	// job's blobs could not be made durable (jobErr says which).
	jobErr := make([]error, len(batch))
	blobFailed := func() bool {
		bad := false
		for i, j := range batch {
			if err := j.blobErr(); err != nil {
				jobErr[i], bad = err, true
			}
		}
		return bad
	}
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		blobFailed()
		answer(dbErr("begin", err))
		return
	}
	errs := make([]error, len(batch))
	var all []store.Event
	for i, j := range batch {
		if _, err := w.exec("SAVEPOINT job"); err != nil {
			errs[i] = dbErr("savepoint", err)
			continue
		}
		w.events = nil
		errs[i] = db.runJob(w, j)
		if errs[i] != nil {
			_, rerr := w.exec("ROLLBACK TO job")
			if rerr != nil {
				db.log.Error("store: rollback to savepoint", "err", rerr)
			}
		} else {
			j.events = w.events
			all = append(all, w.events...)
		}
		if _, err := w.exec("RELEASE job"); err != nil && errs[i] == nil {
			errs[i] = dbErr("release", err)
		}
	}
	err := db.logChanges(w, all)
	if err == nil && blobFailed() {
		db.wconn.ExecContext(ctx, "ROLLBACK")
		var rest []*writeJob
		for i, j := range batch {
			if jobErr[i] != nil {
				db.log.Error("store: message body not durable", "err", jobErr[i])
				j.done <- fmt.Errorf("%w: message body: %w", store.ErrTemporary, jobErr[i])
			} else {
				rest = append(rest, j)
			}
		}
		if len(rest) > 0 {
			db.runBatch(rest)
		}
		return
	}
	if err == nil {
		_, err = db.wconn.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		db.wconn.ExecContext(ctx, "ROLLBACK")
		db.log.Error("store: commit failed", "err", err, "jobs", len(batch))
		answer(dbErr("commit", err))
		return
	}
	db.commits.Add(1)
	db.committedJobs.Add(int64(len(batch)))
	db.hub.Publish(all...)
	for _, ev := range all {
		if ev.Kind == store.EventAppend {
			db.lastAppend.Store(time.Now().UnixNano())
			db.kickIndexer()
			break
		}
		if ev.Kind == store.EventExpunge || ev.Kind == store.EventMailboxDelete || ev.Kind == store.EventAccount {
			db.kickIndexer() // text to drop (dropGoneText)
		}
	}
	for i, j := range batch {
		j.done <- errs[i]
	}
}

// runJob runs one job's function; a panic becomes an error for that job
// (logged with its stack) instead of killing the writer.
func (db *DB) runJob(w *wtx, j *writeJob) (err error) {
	defer func() {
		if r := recover(); r != nil {
			db.log.Error("store: write job panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: internal error", store.ErrTemporary)
		}
	}()
	return j.fn(w)
}

// logChanges writes events to the changelog so that other processes on the
// same data directory can publish them on their hubs.
// Several events share one INSERT, up to changelogRows rows.
func (db *DB) logChanges(w *wtx, events []store.Event) error {
	at := w.now.UnixNano()
	for len(events) > 0 {
		n := min(len(events), changelogRows)
		args := make([]any, 0, 9*n)
		for _, ev := range events[:n] {
			args = append(args, db.origin, at, ev.Account, ev.Mailbox, ev.Kind, ev.UID, ev.ModSeq, ev.Name, ev.OldName)
		}
		if _, err := w.exec(changelogInsert(n), args...); err != nil {
			return fmt.Errorf("changelog: %w", err)
		}
		events = events[n:]
	}
	return nil
}

// changelogRows bounds the rows of one changelog INSERT (9 parameters
// each; SQLite allows 32766).
const changelogRows = 64

// changelogInsert is the INSERT statement for n changelog rows. The writer
// prepares each distinct statement once (wstmt caches by text).
func changelogInsert(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO changelog(origin, at, account_id, mailbox_id, kind, uid, modseq, name, old_name) VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

// changelogKeep is how long changelog rows stay for other processes.
const changelogKeep = 10 * time.Minute

// maintain runs periodic housekeeping in the writer goroutine: pruning the
// changelog and expired tombstones.
func (db *DB) maintain() {
	err := db.runMaintenance(db.ctx)
	if err != nil && db.ctx.Err() == nil {
		db.log.Warn("store: maintenance", "err", err)
	}
}

func (db *DB) runMaintenance(ctx context.Context) error {
	done := make(chan error, 1)
	db.runBatch([]*writeJob{{done: done, fn: db.maintenanceJob}})
	return <-done
}

// maintenanceJob prunes the changelog and expired tombstones.
func (db *DB) maintenanceJob(w *wtx) error {
	if _, err := w.exec("DELETE FROM changelog WHERE at < ?", w.now.Add(-changelogKeep).UnixNano()); err != nil {
		return err
	}
	return db.pruneTombstones(w)
}

// pruneTombstones removes tombstones older than the retention and records,
// per mailbox, the highest pruned modseq (ChangesSince reports it).
func (db *DB) pruneTombstones(w *wtx) error {
	if db.opts.TombstoneRetention < 0 {
		return nil
	}
	cutoff := w.now.Add(-db.opts.TombstoneRetention).UnixNano()
	_, err := w.exec(`UPDATE mailboxes SET tomb_pruned_modseq = max(tomb_pruned_modseq,
			(SELECT max(t.modseq) FROM tombstones t WHERE t.account_id = mailboxes.account_id AND t.mailbox_id = mailboxes.id AND t.expunged_at < ?))
		WHERE id IN (SELECT DISTINCT mailbox_id FROM tombstones WHERE expunged_at < ?)`, cutoff, cutoff)
	if err != nil {
		return err
	}
	_, err = w.exec("DELETE FROM tombstones WHERE expunged_at < ?", cutoff)
	return err
}

// Maintain runs the periodic housekeeping (pruning the changelog and the
// expunge tombstones older than Options.TombstoneRetention) at once,
// through the writer, instead of waiting for the next one-minute tick.
func (db *DB) Maintain(ctx context.Context) error {
	return db.write(ctx, db.maintenanceJob)
}
