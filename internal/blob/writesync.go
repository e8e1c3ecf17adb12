package blob

import (
	"bytes"
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

// Write stores everything r yields like Put and returns its id and size,
// but does not make it durable: the bytes go under their final name
// without any fsync (up to smallBlob octets written there directly, larger
// ones through DIR/tmp and a hard link). Sync makes a batch of such blobs
// durable at once; until then a crash may leave the file empty or
// incomplete under its name. Such a file is never referenced (the store
// commits rows only after Sync), so it is an orphan for Check, and a later
// Write of the same bytes notices it does not hash to its name and
// replaces it. maxSize > 0 bounds the size (ErrTooLarge).
//
// If the blob existed already (and its bytes check out), its modification
// time is refreshed (see Put) and the new copy dropped. Safe for
// concurrent use, also by several processes.
func (s *Store) Write(ctx context.Context, r io.Reader, maxSize int64) (id string, size int64, err error) {
	// A message that fits in smallBlob is hashed first and written
	// straight under its name: no temporary file, no link, no unlink.
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	lim := int64(smallBlob + 1)
	if maxSize > 0 {
		lim = min(lim, maxSize+1)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, lim))
	if err != nil {
		return "", 0, err
	}
	if maxSize > 0 && n > maxSize {
		return "", 0, ErrTooLarge
	}
	if n <= smallBlob {
		if err := ctx.Err(); err != nil {
			return "", 0, err
		}
		return s.writeSmall(ctx, buf.Bytes())
	}
	return s.writeStream(ctx, io.MultiReader(&buf, r), maxSize)
}

// smallBlob is the largest blob Write keeps in memory.
const smallBlob = 256 << 10

// writeSmall stores data, already in memory, under its id.
func (s *Store) writeSmall(ctx context.Context, data []byte) (string, int64, error) {
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	final := s.Path(id)
	if err := s.ensureShard(filepath.Dir(final)); err != nil {
		return "", 0, err
	}
	size := int64(len(data))
	for try := 0; ; try++ {
		f, err := os.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := f.Write(data)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(final)
				return "", 0, fmt.Errorf("blob: write: %w", werr)
			}
			return id, size, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", 0, fmt.Errorf("blob: %w", err)
		}
		if ok, err := s.existing(ctx, id, size, try); ok || err != nil {
			return id, size, err
		}
	}
}

// writeStream stores r through a temporary file, hashing as it goes.
func (s *Store) writeStream(ctx context.Context, r io.Reader, maxSize int64) (id string, size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob: %w", err)
	}
	tmpName := tmp.Name()
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	h := sha256.New()
	size, err = copyLimited(ctx, io.MultiWriter(tmp, h), r, maxSize)
	if err != nil {
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("blob: close: %w", err)
	}
	id = hex.EncodeToString(h.Sum(nil))
	final := s.Path(id)
	if err := s.ensureShard(filepath.Dir(final)); err != nil {
		return "", 0, err
	}
	// Link, unlike rename, never replaces a blob someone else placed (and
	// maybe synced and referenced) meanwhile with a copy not yet synced.
	for try := 0; ; try++ {
		err := os.Link(tmpName, final)
		if err == nil {
			return id, size, nil // deferred cleanup removes the tmp name
		}
		if !errors.Is(err, fs.ErrExist) {
			if try > 0 || !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, fs.ErrPermission) {
				return "", 0, fmt.Errorf("blob: link: %w", err)
			}
			// No hard links here: rename (same bytes, so at worst a
			// concurrent identical copy is replaced).
			if err := os.Rename(tmpName, final); err != nil {
				return "", 0, fmt.Errorf("blob: rename: %w", err)
			}
			keep = true
			return id, size, nil
		}
		if ok, err := s.existing(ctx, id, size, try); ok || err != nil {
			return id, size, err
		}
	}
}

// ensureShard creates a shard directory when missing. A new shard (at
// most 256 in a store's life) has its entry in DIR made durable at once,
// so Sync only ever needs the shard itself.
func (s *Store) ensureShard(shard string) error {
	if _, err := os.Stat(shard); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(shard, 0o700); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return syncDir(s.dir)
}

// existingWaits are how long Write waits, try after try, for a blob of the
// same bytes that another writer may still be writing before it decides
// the blob was left incomplete by a crash.
var existingWaits = [...]time.Duration{5 * time.Millisecond, 50 * time.Millisecond, 250 * time.Millisecond}

// existing handles a blob found in place when Write wanted to create it:
// ok when its bytes check out (its modification time is then refreshed,
// see Put). Otherwise it waits (another writer may be midway), and after
// the last wait removes it, so the caller's next try replaces it: a blob
// left incomplete by a crash before its Sync is never referenced.
func (s *Store) existing(ctx context.Context, id string, size int64, try int) (bool, error) {
	if n, err := s.Verify(ctx, id); err == nil && n == size {
		now := time.Now()
		os.Chtimes(s.Path(id), now, now) // best effort: see Put
		return true, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if try < len(existingWaits) {
		select {
		case <-time.After(existingWaits[try]):
		case <-ctx.Done():
			return false, ctx.Err()
		}
		return false, nil
	}
	if try > len(existingWaits)+2 {
		return false, fmt.Errorf("blob: %s exists but does not check out", id)
	}
	if err := os.Remove(s.Path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("blob: %w", err)
	}
	return false, nil
}

// syncWorkers bounds how many fsyncs one Sync runs at once.
const syncWorkers = 16

// Sync makes blobs durable: it fsyncs every blob file and every shard
// directory holding one, all at once from parallel goroutines (the file
// system then shares its journal commits among them), so a batch costs
// about as much as one blob. Blobs already durable cost little. The result
// maps the ids that failed to their errors (nil when all are durable; a
// missing blob fails with an error matching fs.ErrNotExist). Safe for
// concurrent use; the store's writer calls it once per group commit, and
// commits only after it returned.
func (s *Store) Sync(ids []string) map[string]error {
	type target struct {
		path string
		dir  bool
		err  error
	}
	var targets []*target
	byID := make(map[string]*target, len(ids))
	dirs := make(map[string]*target)
	for _, id := range ids {
		if _, ok := byID[id]; ok {
			continue
		}
		if !ValidID(id) {
			byID[id] = &target{err: ErrInvalidID}
			continue
		}
		t := &target{path: s.Path(id)}
		byID[id] = t
		targets = append(targets, t)
		d := filepath.Dir(t.path)
		if dirs[d] == nil {
			dirs[d] = &target{path: d, dir: true}
			targets = append(targets, dirs[d])
		}
	}
	parallel(len(targets), func(i int) {
		t := targets[i]
		if t.dir {
			t.err = syncDir(t.path)
			return
		}
		f, err := os.Open(t.path)
		if err != nil {
			t.err = fmt.Errorf("blob: %w", err)
			return
		}
		if err := f.Sync(); err != nil {
			t.err = fmt.Errorf("blob: sync: %w", err)
		}
		f.Close()
	})
	var failed map[string]error
	for id, t := range byID {
		err := t.err
		if err == nil && t.path != "" {
			err = dirs[filepath.Dir(t.path)].err
		}
		if err != nil {
			if failed == nil {
				failed = make(map[string]error)
			}
			failed[id] = err
		}
	}
	return failed
}

// parallel runs fn(0..n-1) on up to syncWorkers goroutines and waits.
func parallel(n int, fn func(i int)) {
	if n == 1 {
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
