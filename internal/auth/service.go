package auth

import (
	"context"
	"net/netip"
	"slices"
)

// Config is the auth part of the server configuration.
type Config struct {
	// TrustedNetworks may send cleartext passwords without TLS. Nil means
	// loopback only (127.0.0.0/8 and ::1).
	TrustedNetworks []netip.Prefix
}

// Service checks passwords and starts SASL exchanges.
type Service struct {
	accounts Accounts
	trusted  []netip.Prefix
	throttle *Throttle
}

// New returns a Service over the given credential source.
func New(accounts Accounts, cfg Config) *Service {
	trusted := cfg.TrustedNetworks
	if trusted == nil {
		trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	return &Service{accounts: accounts, trusted: trusted, throttle: NewThrottle()}
}

// Trusted reports whether the connection comes from a trusted network.
func (s *Service) Trusted(c ConnInfo) bool {
	a := c.RemoteAddr()
	if !a.IsValid() {
		return false
	}
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// PlaintextAllowed reports whether cleartext passwords (LOGIN, USER/PASS,
// PLAIN) may be used on this connection: over TLS, or from a trusted network
// (DESIGN.md §5).
func (s *Service) PlaintextAllowed(c ConnInfo) bool {
	return c.TLS != nil || s.Trusted(c)
}

// Mechanisms lists the SASL mechanisms usable on this connection, in the
// order to advertise them.
func (s *Service) Mechanisms(c ConnInfo) []string {
	if !s.PlaintextAllowed(c) {
		return nil
	}
	return []string{"PLAIN", "LOGIN"}
}

// CheckPassword verifies a username and password (IMAP LOGIN, POP3
// USER/PASS, SASL PLAIN and LOGIN) and returns the account name. Failures are
// slowed down per remote address and per account; an unknown user gets the
// same answer as a wrong password.
func (s *Service) CheckPassword(ctx context.Context, c ConnInfo, username, password string) (string, error) {
	if !s.PlaintextAllowed(c) {
		return "", ErrPlaintextRefused
	}
	if err := s.throttle.Wait(ctx, c.RemoteAddr(), username); err != nil {
		return "", err
	}
	account, secrets, err := s.accounts.Secrets(ctx, username)
	if err != nil {
		// Spend the same work as a real check so timing does not tell.
		verifyPassword(dummySecrets, password)
		s.throttle.Failed(c.RemoteAddr(), username)
		if err == ErrUnknownUser {
			return "", ErrFailed
		}
		return "", err
	}
	if !verifyPassword(secrets, password) {
		s.throttle.Failed(c.RemoteAddr(), username)
		return "", ErrFailed
	}
	s.throttle.Succeeded(c.RemoteAddr(), username)
	return account, nil
}

// Start begins a SASL exchange with the named mechanism (case-insensitive).
func (s *Service) Start(ctx context.Context, c ConnInfo, mechanism string) (Exchange, error) {
	mechs := s.Mechanisms(c)
	i := slices.IndexFunc(mechs, func(m string) bool { return equalFold(m, mechanism) })
	if i < 0 {
		return nil, ErrMechanism
	}
	switch mechs[i] {
	case "PLAIN":
		return &plainExchange{s: s, c: c}, nil
	case "LOGIN":
		return &loginExchange{s: s, c: c}, nil
	}
	return nil, ErrMechanism
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
