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
	"strings"
	"sync"
	"testing"
)

func TestWriteSync(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for i := 0; i < 20; i++ {
		data := fmt.Sprintf("message %d\r\n", i)
		id, size, err := s.Write(ctx, strings.NewReader(data), 0)
		sum := sha256.Sum256([]byte(data))
		if err != nil || id != hex.EncodeToString(sum[:]) || size != int64(len(data)) {
			t.Fatalf("write %d: %s %d %v", i, id, size, err)
		}
		// Readable at once, before Sync.
		f, err := s.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if string(got) != data {
			t.Fatalf("read %q", got)
		}
		ids = append(ids, id)
	}
	ids = append(ids, ids[3]) // duplicates are fine
	if failed := s.Sync(ids); failed != nil {
		t.Fatalf("sync: %v", failed)
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(tmp) != 0 {
		t.Fatalf("%d temp files left", len(tmp))
	}
	// A missing or invalid blob fails alone.
	missing := strings.Repeat("ab", 32)
	failed := s.Sync([]string{ids[0], missing, "nope"})
	if len(failed) != 2 || !errors.Is(failed[missing], fs.ErrNotExist) || !errors.Is(failed["nope"], ErrInvalidID) {
		t.Fatalf("sync failures: %v", failed)
	}
}

// TestWriteReplacesIncomplete: a blob left incomplete under its name (a
// crash before its Sync) is replaced by the next Write of its bytes.
func TestWriteReplacesIncomplete(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx := context.Background()
	data := strings.Repeat("full content\r\n", 100)
	id, _, err := s.Write(ctx, strings.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, broken := range []string{"", data[:50], strings.Repeat("x", len(data))} {
		if err := os.WriteFile(s.Path(id), []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		if id2, _, err := s.Write(ctx, strings.NewReader(data), 0); err != nil || id2 != id {
			t.Fatalf("rewrite: %s %v", id2, err)
		}
		if n, err := s.Verify(ctx, id); err != nil || n != int64(len(data)) {
			t.Fatalf("after rewrite over %d octets: %d %v", len(broken), n, err)
		}
	}
}

// TestConcurrentWriteSync: many writers of the same and of different
// bytes, with Syncs running meanwhile, end with every blob intact.
func TestConcurrentWriteSync(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				data := fmt.Sprintf("shared %d", i%5)
				if i%2 == 1 {
					data = fmt.Sprintf("own %d %d", g, i)
				}
				id, _, err := s.Write(ctx, strings.NewReader(data), 0)
				if err == nil {
					err = s.Sync([]string{id})[id]
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	err := s.List(func(i Info) error {
		n++
		_, err := s.Verify(ctx, i.ID)
		return err
	})
	if err != nil || n != 5+8*10 {
		t.Fatalf("%d blobs, %v", n, err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(tmp) != 0 {
		t.Fatalf("%d temp files left", len(tmp))
	}
}

// TestWriteLarge: blobs past smallBlob stream through a temporary file.
func TestWriteLarge(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx := context.Background()
	data := strings.Repeat("0123456789abcdef", (smallBlob+100<<10)/16)
	id, size, err := s.Write(ctx, strings.NewReader(data), 0)
	sum := sha256.Sum256([]byte(data))
	if err != nil || id != hex.EncodeToString(sum[:]) || size != int64(len(data)) {
		t.Fatalf("write: %s %d %v", id, size, err)
	}
	if failed := s.Sync([]string{id}); failed != nil {
		t.Fatal(failed)
	}
	if n, err := s.Verify(ctx, id); err != nil || n != size {
		t.Fatalf("verify %d %v", n, err)
	}
	// Again: deduplicated; and past maxSize on the streaming path.
	if id2, _, err := s.Write(ctx, strings.NewReader(data), 0); err != nil || id2 != id {
		t.Fatalf("again: %s %v", id2, err)
	}
	if _, _, err := s.Write(ctx, strings.NewReader(data+"more"), int64(len(data))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(tmp) != 0 {
		t.Fatalf("%d temp files left", len(tmp))
	}
}
