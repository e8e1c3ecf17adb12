package imapserver

import (
	"syscall"
	"testing"
)

// TestNonblocking: the direct write is used only on a non-blocking
// descriptor, where writeNonblocking cannot hold a thread.
func TestNonblocking(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	if nonblocking(fds[0]) {
		t.Fatal("a fresh socket reported non-blocking")
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	if !nonblocking(fds[0]) {
		t.Fatal("a non-blocking socket reported blocking")
	}
	// On a full non-blocking socket the write returns at once.
	buf := make([]byte, 1<<16)
	for range 1000 {
		n, err := writeNonblocking(uintptr(fds[0]), buf)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil || n <= 0 {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	t.Fatal("64 MiB went into a socket nobody reads")
}
