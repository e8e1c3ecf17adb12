package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// readStmts caches prepared statements of the read pool by query text.
// database/sql prepares a cached Stmt on each pool connection the first
// time it runs there and keeps it, so a hot query (an account or mailbox
// lookup on every delivery, a body on every FETCH) is compiled once per
// connection instead of once per call. Queries whose text varies (IN
// lists) should not come here; past maxReadStmts distinct texts the cache
// stops growing and the rest run unprepared. Safe for concurrent use.
type readStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxReadStmts = 128

// stmt returns the cached statement for query, preparing it on first use;
// nil when the cache is full or preparing failed (the caller then runs the
// query unprepared and sees any error there).
func (db *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	c := &db.rstmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	if len(c.m) >= maxReadStmts {
		return nil
	}
	st, err := db.rdb.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.m[query] = st
	return st
}

// rquery runs a read query through the statement cache.
func (db *DB) rquery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := db.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.rdb.QueryContext(ctx, query, args...)
}

// rqueryRow runs a one-row read query through the statement cache.
func (db *DB) rqueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := db.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.rdb.QueryRowContext(ctx, query, args...)
}

// txQuery and txQueryRow are rquery and rqueryRow inside a read
// transaction: the cached statement, bound to the transaction's
// connection.
func (db *DB) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := db.stmt(ctx, query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

func (db *DB) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := db.stmt(ctx, query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// closeReadStmts closes the cached statements (Close).
func (db *DB) closeReadStmts() {
	c := &db.rstmts
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// readQueryer is the read pool with its statement cache, as a queryer.
type readQueryer struct{ db *DB }

func (q readQueryer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return q.db.rqueryRow(ctx, query, args...)
}
