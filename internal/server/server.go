// Package server wires postern together: it opens the listeners of the
// configuration, puts TLS and connection limits in front of them and runs
// the IMAP, POP3 and LMTP/SMTP servers over one store.
//
// Lifecycle of a Server (cmd/postern drives it):
//
//  1. New builds certificates, the auth service and the protocol servers
//     from a validated config.Config and an open store. Nothing listens yet.
//  2. Listen binds every configured listener; Listeners then reports the
//     bound addresses (port 0 becomes a real port).
//  3. Run serves until its context ends or a listener fails, then shuts
//     everything down within the configured shutdown timeout: listeners
//     stop accepting, sessions get BYE / 421, in-flight deliveries finish
//     or are refused with a temporary error.
//  4. ReloadTLS may be called at any time (SIGHUP) from any goroutine.
//
// The caller owns the store and closes it after Run returns.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
)

// Options configure New.
type Options struct {
	Config config.Config
	Store  store.Store
	Logger *slog.Logger
}

// Listener is one bound listener.
type Listener struct {
	// Name is the config key: lmtp, smtp, imap, imaps, pop3 or pop3s.
	Name string
	// Addr is the bound address (a real port for port 0; a path for a
	// unix socket).
	Addr net.Addr

	ln    net.Listener
	serve func(net.Listener) error
}

// service is a protocol server as the wiring sees it.
type service interface {
	Shutdown(ctx context.Context) error
}

// Server runs every listener of a configuration. Its methods are safe for
// concurrent use.
type Server struct {
	cfg      config.Config
	store    store.Store
	log      *slog.Logger
	certs    *Certificates
	tlsCfg   *tls.Config
	limiter  *Limiter
	hostname string
	protos   *protocols

	mu        sync.Mutex
	listeners []*Listener
}

// New prepares a Server; see the package comment.
func New(opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      opts.Config,
		store:    opts.Store,
		log:      log,
		hostname: opts.Config.EffectiveHostname(),
		limiter:  NewLimiter(opts.Config.Limits.ConnectionsPerIP, opts.Config.Limits.MaxConnections),
	}
	certs, err := NewCertificates(s.cfg.TLS, s.cfg.DataDir, s.hostname, log)
	if err != nil {
		return nil, err
	}
	s.certs = certs
	s.tlsCfg = certs.TLSConfig(s.cfg.TLS.MinVersion)
	if s.cfg.TLS.ClientCA != "" {
		pool, err := loadClientCAs(s.cfg.TLS.ClientCA)
		if err != nil {
			return nil, err
		}
		// Ask every client for a certificate and verify one that is
		// given; a client without one still connects (EXTERNAL is then
		// not offered). An unverifiable certificate fails the handshake.
		s.tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
		s.tlsCfg.ClientCAs = pool
	}
	if s.protos, err = newProtocols(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Certificates returns the server's certificate set (fingerprint, reload).
func (s *Server) Certificates() *Certificates { return s.certs }

// ReloadTLS re-reads the certificate files (SIGHUP). New handshakes use the
// new certificates; open connections are not touched.
func (s *Server) ReloadTLS() error {
	changed, err := s.certs.Reload()
	if err != nil {
		s.log.Warn("TLS certificate reload failed; keeping the old ones", "err", err)
		return err
	}
	if !changed {
		s.log.Info("TLS certificates unchanged")
	}
	return nil
}

// Rejection greetings written to a client over a connection limit: an IMAP
// BYE greeting (RFC 9051 §7.1.5), a POP3 -ERR greeting with the RFC 3206
// SYS/TEMP code, an SMTP 421 (RFC 5321 §3.8).
const (
	rejectIMAP = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
	rejectPOP3 = "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
	rejectLMTP = "421 4.7.0 Too many connections, try again later\r\n"
)

// Listen binds every configured listener. On error nothing stays bound.
func (s *Server) Listen() error {
	l := s.cfg.Listen
	specs := []struct {
		name, addr string
		implicit   bool
		reject     string
		serve      func(net.Listener) error
	}{
		{"lmtp", l.LMTP, false, rejectLMTP, s.protos.serveLMTP},
		{"smtp", l.SMTP, false, rejectLMTP, s.protos.serveSMTP},
		{"imap", l.IMAP, false, rejectIMAP, s.protos.serveIMAP},
		{"imaps", l.IMAPS, true, "", s.protos.serveIMAP},
		{"pop3", l.POP3, false, rejectPOP3, s.protos.servePOP3},
		{"pop3s", l.POP3S, true, "", s.protos.servePOP3},
	}
	var bound []*Listener
	for _, sp := range specs {
		if sp.addr == "" {
			continue
		}
		ln, err := listen(sp.addr, sp.name == "lmtp")
		if err != nil {
			for _, b := range bound {
				b.ln.Close()
			}
			return fmt.Errorf("listen %s on %s: %w", sp.name, sp.addr, err)
		}
		addr := ln.Addr()
		wrapped := s.limiter.Listen(ln, sp.reject)
		if sp.implicit {
			wrapped = TLSListener(wrapped, s.tlsCfg, s.cfg.TLS.HandshakeTimeout.D())
		}
		bound = append(bound, &Listener{Name: sp.name, Addr: addr, ln: wrapped, serve: sp.serve})
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, bound...)
	s.mu.Unlock()
	return nil
}

// listen opens a TCP listener, or a unix socket for an LMTP path (a stale
// socket file left by a crash is removed first).
func listen(addr string, unixOK bool) (net.Listener, error) {
	if path, ok := config.IsUnixSocket(addr); ok && unixOK {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
				c.Close()
				return nil, errors.New("socket is in use by another process")
			}
			_ = os.Remove(path)
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, err
		}
		// Any local process may connect, as to an LMTP port on localhost;
		// restrict the directory holding the socket to narrow that.
		if err := os.Chmod(path, 0o666); err != nil {
			ln.Close()
			return nil, err
		}
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// Listeners returns the bound listeners in configuration order.
func (s *Server) Listeners() []Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Listener, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = *l
	}
	return out
}

// Run serves every bound listener until ctx ends or one fails, then shuts
// down within the configured shutdown timeout. It returns the first
// listener failure, or nil after a shutdown asked for by ctx.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	listeners := append([]*Listener(nil), s.listeners...)
	s.mu.Unlock()
	if len(listeners) == 0 {
		return errors.New("no listeners configured")
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.certs.Watch(watchCtx, s.cfg.TLS.ReloadInterval.D())

	failed := make(chan error, len(listeners))
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.serve(l.ln); err != nil && ctx.Err() == nil {
				failed <- fmt.Errorf("%s on %s: %w", l.Name, l.Addr, err)
			}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	case runErr = <-failed:
		s.log.Error("listener failed; shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout.D())
	defer cancel()
	if err := s.shutdown(sctx, listeners); err != nil {
		s.log.Warn("shutdown deadline passed; connections were cut", "err", err)
	}
	wg.Wait()
	return runErr
}

// shutdown shuts every protocol server down in parallel (each first closes
// its listeners, so nothing new is accepted), then closes any listener left
// open.
func (s *Server) shutdown(ctx context.Context, listeners []*Listener) error {
	defer func() {
		for _, l := range listeners {
			_ = l.ln.Close()
		}
	}()
	services := s.protos.services()
	errs := make(chan error, len(services))
	for _, svc := range services {
		go func() { errs <- svc.Shutdown(ctx) }()
	}
	var first error
	for range services {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
