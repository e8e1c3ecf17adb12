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
