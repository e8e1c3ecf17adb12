// Package blob keeps message bodies on disk, addressed by the hex SHA-256 of
// their bytes: DIR/ab/cdef… (the first two hex digits name a shard
// directory). A blob is written once and never changed, so readers need no
// locking, and the same bytes stored twice (COPY, one LMTP delivery to many
// recipients, a re-import) take the space once.
//
// Durability: Put writes the blob under its name (small ones directly,
// large ones streamed into DIR/tmp while hashing, then linked into place)
// and fsyncs it and the shard directory, so when Put returns the blob
// survives a crash or power loss. Write and Sync split that in two so
// that a caller committing many blobs at once (the store's group commit)
// pays for the fsyncs once per batch, all in parallel: Write stores without
// fsync, Sync makes a batch durable. A blob not yet synced may be left
// incomplete by a crash; nothing references it, and Write replaces it when
// the same bytes come again (it checks an existing blob's hash).
//
// A Store is safe for concurrent use by many goroutines and by several
// processes on the same directory (rename is atomic; an existing blob is
// never rewritten). It uses the standard library only.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Errors returned by the store (test with errors.Is).
var (
	// ErrTooLarge: Put read more than maxSize octets; nothing was kept.
	ErrTooLarge = errors.New("blob: too large")
	// ErrCorrupt: a blob's bytes no longer hash to its id.
	ErrCorrupt = errors.New("blob: corrupt")
	// ErrInvalidID: the id is not 64 lower-case hex digits.
	ErrInvalidID = errors.New("blob: invalid id")
)

// Store is a directory of blobs. Create it with New.
type Store struct {
	dir string
}

// New opens (creating when needed) the blob directory dir and its tmp
// subdirectory.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// ValidID reports whether id looks like a blob id (64 lower-case hex digits).
func ValidID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Path is where blob id lives (whether or not it exists).
func (s *Store) Path(id string) string {
	return filepath.Join(s.dir, id[:2], id[2:])
}

// copyBuf is the chunk size Put reads with; ctx is checked between chunks.
const copyBuf = 64 << 10

// Put stores everything r yields and returns its id and size. maxSize > 0
// bounds the size: past it Put stops reading, removes its temporary file and
// returns ErrTooLarge. When Put returns nil, the blob is durable.
//
// If the blob existed already, its modification time is refreshed (so a
// collector honouring a grace period by mtime keeps it while the caller is
// still about to reference it) and the new copy is dropped.
func (s *Store) Put(ctx context.Context, r io.Reader, maxSize int64) (id string, size int64, err error) {
	id, size, err = s.Write(ctx, r, maxSize)
	if err != nil {
		return "", 0, err
	}
	if err := s.Sync([]string{id})[id]; err != nil {
		return "", 0, err
	}
	return id, size, nil
}

// copyLimited copies r to w, checking ctx between chunks and failing with
// ErrTooLarge once more than maxSize (when > 0) octets came.
func copyLimited(ctx context.Context, w io.Writer, r io.Reader, maxSize int64) (int64, error) {
	buf := make([]byte, copyBuf)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			n += int64(m)
			if maxSize > 0 && n > maxSize {
				return n, ErrTooLarge
			}
			if _, err := w.Write(buf[:m]); err != nil {
				return n, fmt.Errorf("blob: write: %w", err)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob: sync dir: %w", err)
	}
	return nil
}

// File is an open blob. It is an *os.File (ReaderAt, Seeker, Closer) that
// also knows its size.
type File struct {
	*os.File
	size int64
}

// Size is the blob's size in octets.
func (f *File) Size() int64 { return f.size }

// Open opens blob id for reading. A missing blob gives an error matching
// fs.ErrNotExist.
func (s *Store) Open(id string) (*File, error) {
	if !ValidID(id) {
		return nil, ErrInvalidID
	}
	f, err := os.Open(s.Path(id))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{File: f, size: st.Size()}, nil
}

// Remove deletes blob id. Removing a missing blob is not an error.
func (s *Store) Remove(id string) error {
	if !ValidID(id) {
		return ErrInvalidID
	}
	if err := os.Remove(s.Path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Info describes one stored blob.
type Info struct {
	ID      string
	Size    int64
	ModTime time.Time
}

// List calls fn for every blob in the store, in no particular order.
// Files that are not blobs (stray names, the tmp directory) are skipped.
// An error from fn stops the walk and is returned.
func (s *Store) List(fn func(Info) error) error {
	shards, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.dir, sh.Name()))
		if err != nil {
			return err
		}
		for _, e := range entries {
			id := sh.Name() + e.Name()
			if !e.Type().IsRegular() || !ValidID(id) {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			if err != nil {
				return err
			}
			if err := fn(Info{ID: id, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verify re-reads blob id and checks that its bytes hash to id. It returns
// the size read; a mismatch gives ErrCorrupt, a missing blob an error
// matching fs.ErrNotExist.
func (s *Store) Verify(ctx context.Context, id string) (int64, error) {
	f, err := s.Open(id)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	n, err := copyLimited(ctx, h, f, 0)
	if err != nil {
		return n, err
	}
	if hex.EncodeToString(h.Sum(nil)) != id {
		return n, ErrCorrupt
	}
	return n, nil
}

// CleanTemp removes temporary files older than age (left by a crash in the
// middle of Put). It returns how many it removed.
func (s *Store) CleanTemp(age time.Duration) (int, error) {
	dir := filepath.Join(s.dir, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-age)
	n := 0
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}
