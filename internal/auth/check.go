package auth

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"strings"
)

// CheckPassword verifies a username and password (IMAP LOGIN, POP3
// USER/PASS, SASL PLAIN and LOGIN) and returns the account name. Failures are
// slowed down per remote address and per account; an unknown user gets the
// same answer, after the same work, as a wrong password, and a wrong
// password for an account with a cheap imported hash takes that work too
// (see verifyAccount). A password stored
// in an imported legacy scheme is rehashed with argon2id (and SCRAM keys
// are added) after the first successful check.
func (s *Service) CheckPassword(ctx context.Context, c ConnInfo, username, password string) (string, error) {
	if !s.PlaintextAllowed(c) {
		return "", ErrPlaintextRefused
	}
	g, err := s.gate(ctx, c, username)
	if err != nil {
		return "", err
	}
	if g.account == "" {
		// Spend the same work as a real check so timing does not tell.
		s.verify(s.dummySecrets(), password)
		s.failed(c, g.key, "unknown user")
		return "", ErrFailed
	}
	// A password verified recently against these same records skips the
	// slow hash; failures always take the full check.
	ok, upgrade := s.verified.check(g.account, g.secrets, password), false
	if !ok {
		ok, upgrade = s.verifyAccount(g, password)
	}
	if g.locked {
		// Locked accounts get the ordinary failure after the ordinary
		// work, whatever the password.
		s.failed(c, g.key, "account locked")
		return "", ErrFailed
	}
	if !ok {
		s.failed(c, g.key, "wrong password")
		return "", ErrFailed
	}
	s.succeeded(c.RemoteAddr(), g.key)
	if upgrade {
		s.upgradeSecrets(ctx, g.account, g.secrets, password)
	}
	return g.account, nil
}

// gated is what gate found out about a login name.
type gated struct {
	account string            // canonical account; "" for an unknown user
	secrets map[string]string // its records
	key     string            // what failures count against
	locked  bool              // the lockout is in force for this address
}

// gate looks a login name up, then waits out the throttle and checks the
// lockout. Failures count against the canonical account when there is one,
// so that "alice", "Alice" and "alice@example.org" share one record; for an
// unknown user, against the name as typed. err is a store error or the
// context's.
func (s *Service) gate(ctx context.Context, c ConnInfo, username string) (gated, error) {
	account, secrets, err := s.accounts.Secrets(ctx, username)
	if err != nil && !errors.Is(err, ErrUnknownUser) {
		return gated{}, err
	}
	g := gated{account: account, secrets: secrets, key: strings.ToLower(username)}
	if err != nil {
		g.account, g.secrets = "", nil
	} else {
		g.key = strings.ToLower(account)
	}
	addr := c.RemoteAddr()
	if err := s.throttle.Wait(ctx, addr, g.key); err != nil {
		return gated{}, err
	}
	g.locked = s.throttle.Locked(addr, g.key)
	return g, nil
}

// failed records a failed login and logs it (without the credentials).
func (s *Service) failed(c ConnInfo, user, why string) {
	addr := c.RemoteAddr()
	s.throttle.Failed(addr, user)
	s.log.Info("auth: login failed", "user", user, "remote", addr, "reason", why)
}

// succeeded records a successful login for non-password mechanisms.
func (s *Service) succeeded(addr netip.Addr, user string) {
	s.throttle.Succeeded(addr, user)
}

// verify checks a password against stored records, holding one of the
// hashing slots. upgrade says the records should be rewritten.
func (s *Service) verify(secrets map[string]string, password string) (ok, upgrade bool) {
	s.hashes.do(func() { ok, upgrade = verifyPassword(secrets, password) })
	return ok, upgrade
}

// verifyAccount is verify for an existing account, remembering a success
// in the cache. A failure costs at least one argon2id computation at the
// current parameters whatever the account's hash scheme, as an unknown
// user's check does. The cache is asked again once a hashing slot is held: a
// client that opens many connections at once (a phone, a benchmark, a
// mail client's folder sync) makes many checks of the same password, and
// all but the first that finishes then skip the hash.
func (s *Service) verifyAccount(g gated, password string) (ok, upgrade bool) {
	s.hashes.do(func() {
		if s.verified.check(g.account, g.secrets, password) {
			ok = true
			return
		}
		ok, upgrade = verifyPassword(g.secrets, password)
		if ok && !upgrade {
			s.verified.add(g.account, g.secrets, password)
		}
		if !ok && !costsFullArgon2id(g.secrets) {
			// A cheaper record (an imported {SSHA512} or crypt hash, old
			// argon2id parameters) would answer a wrong password sooner
			// than an unknown user is answered, telling that the account
			// exists: top the failure up with the unknown user's check.
			verifyPassword(s.dummySecrets(), password)
		}
	})
	return ok, upgrade
}

// dummySecrets is what an unknown user is checked against: an argon2id
// hash with the current parameters, made once per Service.
func (s *Service) dummySecrets() map[string]string {
	s.dummyOnce.Do(func() {
		h, err := hashArgon2id("postern-dummy-" + string(randomBytes(8)))
		if err != nil {
			h = "$argon2id$v=19$m=65536,t=1,p=2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}
		s.dummy = map[string]string{SecretPassword: h}
	})
	return s.dummy
}

// upgradeSecrets replaces a legacy hash by argon2id and SCRAM keys, keeping
// other records (a plaintext-equivalent secret stays). Failure is logged
// only: the login itself succeeded.
func (s *Service) upgradeSecrets(ctx context.Context, account string, old map[string]string, password string) {
	var fresh map[string]string
	var err error
	s.hashes.do(func() {
		fresh, err = HashPasswordWith(password, HashOptions{SCRAMIterations: s.cfg.SCRAMIterations})
	})
	if err != nil {
		s.log.Error("auth: rehash", "account", account, "err", err)
		return
	}
	next := maps.Clone(old)
	maps.Copy(next, fresh)
	if err := s.accounts.SetSecrets(ctx, account, next); err != nil {
		s.log.Error("auth: storing upgraded hash", "account", account, "err", err)
		return
	}
	s.log.Info("auth: password hash upgraded to argon2id", "account", account)
}
