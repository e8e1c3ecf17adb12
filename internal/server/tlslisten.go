package server

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// TLSListener wraps inner for implicit TLS (IMAPS, POP3S): Accept returns a
// *tls.Conn at once, without handshaking, so a slow client never holds up
// Accept. The handshake runs in the connection's own goroutine on its first
// Read or Write (or an explicit Handshake). A timer bounds it: if the
// handshake has not completed after timeout, the connection is closed and
// the session's I/O fails. Once the handshake is done the timer does
// nothing, so no deadline is left on the connection.
func TLSListener(inner net.Listener, cfg *tls.Config, timeout time.Duration) net.Listener {
	return &tlsListener{Listener: inner, cfg: cfg, timeout: timeout}
}

type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := tls.Server(c, l.cfg)
	if l.timeout > 0 {
		time.AfterFunc(l.timeout, func() { expireHandshake(tc) })
	}
	return tc, nil
}

// expireHandshake ends tc's handshake if it has not completed. With a done
// context, HandshakeContext returns at once when the handshake already
// succeeded; otherwise it closes the underlying connection, which makes a
// handshake in progress (in the session's goroutine) fail, and waits for it.
func expireHandshake(tc *tls.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = tc.HandshakeContext(ctx)
}
