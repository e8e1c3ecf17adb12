package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// pendingBlob is a blob written by Write and not yet made durable by Sync:
// its bytes sit, not yet fsynced, in a file of DIR/tmp kept open here.
type pendingBlob struct {
	file *os.File
	tmp  string    // the file's path
	at   time.Time // last Write of these bytes (ExpirePending)
	// sync is set while a Sync works on the blob; another Sync asking for
	// it waits for its done. Writes of the same bytes still share it.
	sync *syncState
}

type syncState struct {
	done chan struct{}
	err  error // set before done is closed
}

// ErrLost: Sync was asked for a blob that is neither pending nor in place
// (its pending copy was dropped by ExpirePending or a failed Sync).
var ErrLost = errors.New("blob: neither pending nor stored")

// Write stores everything r yields like Put and returns its id and size,
// but the blob is only pending: written, not yet durable, and not yet under
// its final name (Open finds it all the same). Sync makes it durable. A
// blob that is never synced is dropped by ExpirePending; a crash leaves its
// temporary file for CleanTemp. maxSize > 0 bounds the size (ErrTooLarge).
//
// Bytes already stored (in place, or pending) are not written again: the
// new copy is dropped, and an in-place blob's modification time refreshed
// (see Put). Safe for concurrent use.
func (s *Store) Write(ctx context.Context, r io.Reader, maxSize int64) (id string, size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = copyLimited(ctx, io.MultiWriter(tmp, h), r, maxSize)
	if err != nil {
		return "", 0, err
	}
	id = hex.EncodeToString(h.Sum(nil))
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[id]; ok {
		p.at = now
		return id, size, nil
	}
	if _, err := os.Stat(s.Path(id)); err == nil {
		os.Chtimes(s.Path(id), now, now) // best effort: see Put
		return id, size, nil
	}
	s.pending[id] = &pendingBlob{file: tmp, tmp: tmp.Name(), at: now}
	keep = true
	return id, size, nil
}

// syncWorkers bounds how many fsyncs one Sync runs at once.
const syncWorkers = 16

// Sync makes blobs durable: for each pending one it fsyncs the file,
// renames it to its final name and then fsyncs every shard directory
// touched, each step for all blobs in parallel, so a batch costs about as
// much as one blob. An id that is not pending must already be in place.
// The result maps the ids that failed to their errors (nil when all are
// durable). Safe for concurrent use; the store's writer goroutine calls
// it once per group commit, just before the database commit.
func (s *Store) Sync(ids []string) map[string]error {
	type job struct {
		id   string
		p    *pendingBlob
		err  error
		dir  string
		made bool // created the shard directory
	}
	var (
		jobs   []*job
		waits  = map[string]*syncState{}
		placed []string
		failed map[string]error
	)
	fail := func(id string, err error) {
		if failed == nil {
			failed = make(map[string]error)
		}
		failed[id] = err
	}
	seen := make(map[string]bool, len(ids))
	s.mu.Lock()
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		p, ok := s.pending[id]
		switch {
		case !ok:
			placed = append(placed, id)
		case p.sync != nil:
			waits[id] = p.sync
		default:
			p.sync = &syncState{done: make(chan struct{})}
			jobs = append(jobs, &job{id: id, p: p})
		}
	}
	s.mu.Unlock()
	for _, id := range placed {
		if _, err := os.Stat(s.Path(id)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w: %s", ErrLost, id)
			}
			fail(id, err)
		}
	}

	// 1. fsync each file, then rename it into place.
	parallel(len(jobs), func(i int) {
		j := jobs[i]
		final := s.Path(j.id)
		j.dir = filepath.Dir(final)
		if err := j.p.file.Sync(); err != nil {
			j.err = fmt.Errorf("blob: sync: %w", err)
			return
		}
		if err := j.p.file.Close(); err != nil {
			j.err = fmt.Errorf("blob: close: %w", err)
			return
		}
		if _, err := os.Stat(j.dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(j.dir, 0o700); err != nil {
				j.err = fmt.Errorf("blob: %w", err)
				return
			}
			j.made = true
		}
		if err := os.Rename(j.p.tmp, final); err != nil {
			j.err = fmt.Errorf("blob: rename: %w", err)
		}
	})
	// 2. fsync each shard directory once (and the root for new shards).
	dirs := map[string]error{}
	for _, j := range jobs {
		if j.err == nil {
			dirs[j.dir] = nil
			if j.made {
				dirs[s.dir] = nil
			}
		}
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	errs := make([]error, len(list))
	parallel(len(list), func(i int) { errs[i] = syncDir(list[i]) })
	for i, d := range list {
		dirs[d] = errs[i]
	}

	s.mu.Lock()
	for _, j := range jobs {
		err := j.err
		if err != nil {
			// It never reached its name: drop the pending copy.
			j.p.file.Close()
			os.Remove(j.p.tmp)
		} else if err = dirs[j.dir]; err == nil && j.made {
			err = dirs[s.dir]
		}
		// Either way it is no longer pending: in place (durable, or to be
		// found in place by a later Sync that fsyncs nothing) or gone.
		delete(s.pending, j.id)
		j.p.sync.err = err
		close(j.p.sync.done)
		if err != nil {
			fail(j.id, err)
		}
	}
	s.mu.Unlock()
	for id, st := range waits {
		<-st.done
		if st.err != nil {
			fail(id, st.err)
		}
	}
	return failed
}

// parallel runs fn(0..n-1) on up to syncWorkers goroutines and waits.
func parallel(n int, fn func(i int)) {
	switch n {
	case 0:
		return
	case 1:
		fn(0)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(n, syncWorkers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// openFile opens blob id where it is: in place, or still pending.
func (s *Store) openFile(id string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := os.Open(s.Path(id))
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == 1 {
			return f, err
		}
		s.mu.Lock()
		p := s.pending[id]
		var tmp string
		if p != nil {
			tmp = p.tmp
		}
		s.mu.Unlock()
		if p == nil {
			return nil, err
		}
		if f, err := os.Open(tmp); err == nil {
			return f, nil
		}
		// Renamed into place meanwhile: look there again.
	}
}

// ExpirePending drops the pending blobs last written more than age ago
// and never synced (a staged message nobody appended), removing their
// files. It returns how many it dropped. The store's housekeeping calls it.
func (s *Store) ExpirePending(age time.Duration) int {
	cutoff := time.Now().Add(-age)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, p := range s.pending {
		if p.sync != nil || !p.at.Before(cutoff) {
			continue
		}
		p.file.Close()
		os.Remove(p.tmp)
		delete(s.pending, id)
		n++
	}
	return n
}

// Pending reports how many blobs are written but not yet synced.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// pendingNames returns the temporary file names of the pending blobs.
func (s *Store) pendingNames() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.pending))
	for _, p := range s.pending {
		out[filepath.Base(p.tmp)] = true
	}
	return out
}
