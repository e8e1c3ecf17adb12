package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPutOpenVerify(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := strings.Repeat("hello blob\r\n", 10000)
	sum := sha256.Sum256([]byte(data))
	id, size, err := s.Put(ctx, strings.NewReader(data), 0)
	if err != nil || id != hex.EncodeToString(sum[:]) || size != int64(len(data)) {
		t.Fatalf("put %s %d %v", id, size, err)
	}
	f, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	buf := make([]byte, 5)
	f.ReadAt(buf, 0)
	f.Close()
	if string(got) != data || f.Size() != size || string(buf) != "hello" {
		t.Fatal("content differs")
	}
	if n, err := s.Verify(ctx, id); err != nil || n != size {
		t.Fatalf("verify %d %v", n, err)
	}
	// Storing the same bytes again keeps one copy and leaves no temp file.
	if id2, _, err := s.Put(ctx, strings.NewReader(data), 0); err != nil || id2 != id {
		t.Fatalf("second put %s %v", id2, err)
	}
	var ids []string
	s.List(func(i Info) error { ids = append(ids, i.ID); return nil })
	if len(ids) != 1 || ids[0] != id {
		t.Fatalf("list %v", ids)
	}
	if tmp, _ := os.ReadDir(s.Dir() + "/tmp"); len(tmp) != 0 {
		t.Fatalf("temp files left: %d", len(tmp))
	}
	// Corruption is detected.
	os.WriteFile(s.Path(id), []byte("tampered"), 0o600)
	if _, err := s.Verify(ctx, id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify corrupt: %v", err)
	}
	if err := s.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(id); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open removed: %v", err)
	}
	if err := s.Remove(id); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := s.Open("../../etc/passwd"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("bad id: %v", err)
	}
}

func TestPutTooLarge(t *testing.T) {
	s, _ := New(t.TempDir())
	_, _, err := s.Put(context.Background(), bytes.NewReader(make([]byte, 200<<10)), 100<<10)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
	n := 0
	s.List(func(Info) error { n++; return nil })
	tmp, _ := os.ReadDir(s.Dir() + "/tmp")
	if n != 0 || len(tmp) != 0 {
		t.Fatalf("kept %d blobs, %d temp files", n, len(tmp))
	}
	// Exactly maxSize is allowed.
	if _, size, err := s.Put(context.Background(), bytes.NewReader(make([]byte, 1000)), 1000); err != nil || size != 1000 {
		t.Fatalf("at limit: %d %v", size, err)
	}
}

func TestPutCancelled(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Put(ctx, strings.NewReader("x"), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestConcurrentPutSameContent(t *testing.T) {
	s, _ := New(t.TempDir())
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, _, err := s.Put(context.Background(), strings.NewReader("same bytes"), 0)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatal("ids differ")
		}
	}
	if _, err := s.Verify(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
}

func TestCleanTemp(t *testing.T) {
	s, _ := New(t.TempDir())
	p := s.Dir() + "/tmp/put-stale"
	os.WriteFile(p, []byte("x"), 0o600)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(p, old, old)
	os.WriteFile(s.Dir()+"/tmp/put-fresh", []byte("x"), 0o600)
	n, err := s.CleanTemp(time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("cleaned %d %v", n, err)
	}
	if _, err := os.Stat(s.Dir() + "/tmp/put-fresh"); err != nil {
		t.Fatal("fresh temp removed")
	}
}
