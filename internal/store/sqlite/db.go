// Package sqlite is the embedded store backend: one SQLite database
// (DATADIR/postern.db, WAL mode, modernc.org/sqlite) for metadata and
// package blob for message bodies (DATADIR/blobs).
//
// Lifecycle:
//  1. Open creates the data directory when needed, migrates the schema and
//     starts three goroutines: the writer, the change poller and the
//     text indexer.
//  2. Every write goes to the writer goroutine, which gathers what is
//     waiting into one transaction and commits once with synchronous=FULL
//     (group commit), then publishes the changes on the hub. Message bodies
//     are staged without fsync; the blobs an Append references are synced
//     (all of a batch in parallel, from the moment the Append is queued)
//     before the commit that references them.
//  3. Reads use a pool of read-only connections and never wait for writes.
//  4. The indexer adds new bodies' decoded text to the FTS5 index, in the
//     pauses between deliveries, through small low-priority write jobs that
//     never share a transaction with deliveries.
//  5. The poller notices commits by other processes on the same data
//     directory (PRAGMA data_version) and publishes their changes too.
//  6. Close stops the goroutines and closes the connections.
//
// A DB is safe for concurrent use; several processes may open the same
// data directory at once (SQLite's locks serialize their writers).
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/blob"
	"github.com/postern/postern/internal/store"

	_ "modernc.org/sqlite" // registers driver "sqlite"
)

var _ store.Store = (*DB)(nil)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("store closed")

// Options tune a DB. The zero value is usable.
type Options struct {
	// MaxMessageSize bounds Stage when its caller passes maxSize <= 0;
	// default 50 MiB.
	MaxMessageSize int64
	// TombstoneRetention is how long expunge tombstones are kept for
	// QRESYNC; default 90 days, negative keeps them forever.
	TombstoneRetention time.Duration
	// Logger gets operational messages; default slog.Default().
	Logger *slog.Logger
	// Clock is the time source (tests); default time.Now.
	Clock func() time.Time
	// MaxBatch bounds how many write requests share one commit; default 256.
	MaxBatch int
	// PollInterval is how often the change poller looks for commits by
	// other processes; default 200 ms.
	PollInterval time.Duration
	// ReadConns is the size of the read connection pool; default 8.
	ReadConns int
	// OrphanGrace is how old an unreferenced blob must be before
	// Check(repair) removes it, so that blobs staged for an Append still in
	// flight survive; default 1 hour.
	OrphanGrace time.Duration
	// NoIndexer disables the background text indexer: short-lived
	// processes (postern deliver) leave indexing to the server. SearchText
	// stays correct (it scans what is not indexed).
	NoIndexer bool
	// InlineMax is the largest message body kept in the database itself
	// (table bodies, written in the commit that references it) instead
	// of a blob file; default 128 KiB, negative puts every body in a file.
	// A file costs a create, an fsync of the file and one of its directory
	// per message; an inline body rides on the commit's one WAL fsync.
	InlineMax int64
}

func (o *Options) setDefaults() {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 50 << 20
	}
	if o.TombstoneRetention == 0 {
		o.TombstoneRetention = 90 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 8
	}
	if o.OrphanGrace <= 0 {
		o.OrphanGrace = time.Hour
	}
	if o.InlineMax == 0 {
		o.InlineMax = 128 << 10
	}
}

// DB is an open embedded store. Create it with Open.
type DB struct {
	opts   Options
	dir    string
	log    *slog.Logger
	blobs  *blob.Store
	hub    *store.Hub
	origin string // identifies this DB's changelog rows

	wdb   *sql.DB // one connection: the writer's
	wconn *sql.Conn
	// wstmts are the writer connection's prepared statements.
	wstmts writerStmts
	rdb    *sql.DB // read-only pool
	rstmts readStmts
	// scratchBufs holds Stage's read-ahead buffers (InlineMax+1 octets).
	scratchBufs sync.Pool
	// refs caches MessageRefs of big mailboxes.
	refs refsCache
	// changesFlight and mailboxFlight let concurrent identical reads share
	// queries (see freshFlight).
	changesFlight, mailboxFlight freshFlight

	jobs chan *writeJob
	// idleJobs are background write jobs (writeIdle).
	idleJobs chan *writeJob
	// lastAppend is when (Unix ns) a commit last added messages; the
	// indexer waits for a pause in deliveries.
	lastAppend atomic.Int64
	// indexKick wakes the text indexer (capacity 1, never blocks).
	indexKick chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	once      sync.Once

	// commits and committedJobs count write transactions and the jobs
	// they carried (group commit effectiveness; see Stats).
	commits, committedJobs atomic.Int64

	// lastChange is the highest changelog id the poller has handled.
	lastChange int64
}

// Open opens (creating when needed) the store in dataDir.
func Open(ctx context.Context, dataDir string, opts Options) (*DB, error) {
	opts.setDefaults()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	blobs, err := blob.New(filepath.Join(dataDir, "blobs"))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "postern.db")
	db := &DB{
		opts:      opts,
		dir:       dataDir,
		log:       opts.Logger,
		blobs:     blobs,
		hub:       store.NewHub(),
		jobs:      make(chan *writeJob),
		idleJobs:  make(chan *writeJob),
		indexKick: make(chan struct{}, 1),
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	db.origin = hex.EncodeToString(rnd[:])

	db.wdb, err = sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxLifetime(0)
	db.wdb.SetConnMaxIdleTime(0)
	if db.wconn, err = db.wdb.Conn(ctx); err != nil {
		db.wdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	fail := func(err error) (*DB, error) {
		db.wconn.Close()
		db.wdb.Close()
		if db.rdb != nil {
			db.rdb.Close()
		}
		return nil, err
	}
	var mode string
	if err := db.wconn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	if err := migrate(ctx, db.wconn); err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	db.rdb, err = sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	db.rdb.SetMaxOpenConns(opts.ReadConns + 1) // +1: the poller's
	db.rdb.SetMaxIdleConns(opts.ReadConns + 1)
	if err := db.wconn.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM changelog").Scan(&db.lastChange); err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	pollConn, err := db.rdb.Conn(ctx)
	if err != nil {
		return fail(fmt.Errorf("store: %w", err))
	}
	if err := db.prepareWriter(ctx); err != nil {
		pollConn.Close()
		return fail(fmt.Errorf("store: %w", err))
	}

	db.ctx, db.cancel = context.WithCancel(context.Background())
	db.wg.Add(2)
	go db.writer()
	go db.poller(pollConn)
	if !opts.NoIndexer {
		db.wg.Add(1)
		go db.indexer()
	}
	return db, nil
}

// dsn builds the connection string: busy timeout first, foreign keys,
// synchronous=FULL so that a commit is on disk when it returns.
func dsn(path string, readOnly bool) string {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(30000)")
	v.Add("_pragma", "foreign_keys(1)")
	v.Add("_pragma", "synchronous(FULL)")
	v.Add("_pragma", "cache_size(-16000)")
	if readOnly {
		v.Add("_pragma", "query_only(1)")
		v.Add("_pragma", "mmap_size(1073741824)") // big FETCHes: no read syscalls
	} else {
		v.Add("_txlock", "immediate")
	}
	return path + "?" + v.Encode()
}

// Close stops the writer and the poller and closes the database. Calls in
// flight finish first; later calls fail with ErrClosed.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		db.cancel()
		db.wg.Wait()
		db.closeWriterStmts()
		db.closeReadStmts()
		err = errors.Join(db.wconn.Close(), db.wdb.Close(), db.rdb.Close())
	})
	return err
}

// Stats reports how many write transactions committed and how many write
// requests they carried; their ratio shows how well group commit works.
func (db *DB) Stats() (commits, jobs int64) {
	return db.commits.Load(), db.committedJobs.Load()
}

// Hub is where every committed change is published.
func (db *DB) Hub() *store.Hub { return db.hub }

// Blobs exposes the blob store (tools and tests).
func (db *DB) Blobs() *blob.Store { return db.blobs }

func (db *DB) now() time.Time { return db.opts.Clock() }

// newObjectID makes an RFC 8474 object id: a letter then 24 hex digits.
func newObjectID(prefix byte) string {
	var b [12]byte
	rand.Read(b[:])
	return string(prefix) + hex.EncodeToString(b[:])
}

// dbErr wraps an unexpected database error so callers can match
// store.ErrTemporary while the log keeps the detail.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrTemporary) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", store.ErrTemporary, op, err)
}
