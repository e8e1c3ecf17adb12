// Package netserve holds the accept loop the protocol servers share. It
// imports only the standard library, so every protocol package may use it.
package netserve

import (
	"errors"
	"net"
	"time"
)

// Accept accepts connections on l and calls handle for each, until l is
// closed or closing reports a shutdown (then it returns nil). Timeouts and
// temporary errors (EMFILE when descriptors run out, for example) are
// retried with a growing pause, from 5 ms up to 1 s, after onRetry (which
// may be nil) is told; any other error is returned. Accept runs in the
// caller's goroutine; handle must not block for long.
func Accept(l net.Listener, closing func() bool, onRetry func(err error, pause time.Duration), handle func(net.Conn)) error {
	var pause time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if closing() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if retryable(err) {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				if onRetry != nil {
					onRetry(err, pause)
				}
				time.Sleep(pause)
				continue
			}
			return err
		}
		pause = 0
		handle(c)
	}
}

func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}
