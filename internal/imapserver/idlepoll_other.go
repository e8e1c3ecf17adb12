//go:build !linux

package imapserver

import "errors"

// idlePoller is Linux-only (epoll); elsewhere IDLE sessions keep a
// goroutine blocked in Read (park always declines).
type idlePoller struct{}

func newIdlePoller(done <-chan struct{}) (*idlePoller, error) {
	return nil, errors.ErrUnsupported
}

func (p *idlePoller) add(fd int, s *session) error { return errors.ErrUnsupported }

func (p *idlePoller) remove(fd int, s *session) {}

func (p *idlePoller) count() int { return 0 }

func nonblocking(fd int) bool { return false }

// writeNonblocking is not needed where nothing parks (directWriter then
// sends everything through its next writer).
func writeNonblocking(fd uintptr, b []byte) (int, error) {
	return 0, errors.ErrUnsupported
}
