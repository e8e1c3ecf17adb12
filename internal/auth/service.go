package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xdg-go/scram"
)

// Config is the auth part of the server configuration. The zero value is
// usable: cleartext passwords from loopback or over TLS, PLAIN, LOGIN and
// SCRAM, no plaintext-equivalent mechanisms, no GSSAPI, no OAuth.
type Config struct {
	// TrustedNetworks may send cleartext passwords without TLS. Nil means
	// loopback only (127.0.0.0/8 and ::1).
	TrustedNetworks []netip.Prefix

	// MasterUsers may name another account as the authorization identity
	// (PLAIN's authzid, RFC 4616 §2; SCRAM's "a=", RFC 5802 §5.1) and so log
	// in as that account with their own password. Everyone else may only
	// name themselves.
	MasterUsers []string

	// PlainSecretKey is the 32-byte AES-256-GCM key that encrypts the
	// per-account plaintext-equivalent secrets used by CRAM-MD5 and APOP
	// (see PlainEquivalentSecrets). Without it those mechanisms are off.
	PlainSecretKey []byte
	// EnableCRAMMD5 offers CRAM-MD5 (RFC 2195). It needs PlainSecretKey and
	// works only for accounts that opted in.
	EnableCRAMMD5 bool
	// EnableAPOP offers POP3 APOP (RFC 1939 §7). Same conditions.
	EnableAPOP bool

	// SCRAMIterations is the PBKDF2 iteration count for new SCRAM keys;
	// 0 means 4096, the minimum of RFC 7677 §4.
	SCRAMIterations int

	// ClientCertIdentity says which field of a verified TLS client
	// certificate names the account for EXTERNAL: "cn" (the subject's
	// common name, the default) or "email" (the first email SAN, falling
	// back to the whole address as the login name).
	ClientCertIdentity string

	// KeytabFile holds the service keys for GSSAPI. Empty: no GSSAPI.
	KeytabFile string
	// ServicePrincipal restricts GSSAPI to one keytab principal, e.g.
	// "imap/mail.example.com"; empty accepts any key in the keytab.
	ServicePrincipal string
	// KerberosRealms lists the client realms whose principals map to
	// accounts ("alice@EXAMPLE.COM" → "alice"); empty means the realm of
	// the service principal.
	KerberosRealms []string

	// JWKSFile is a JSON Web Key Set (RFC 7517) whose RS256 and ES256 keys
	// sign OAuth bearer tokens. Empty: no OAUTHBEARER, no XOAUTH2.
	JWKSFile string
	// OAuthIssuer must equal a token's "iss" claim.
	OAuthIssuer string
	// OAuthAudience must appear in a token's "aud" claim.
	OAuthAudience string
	// OAuthAccountClaim is the claim naming the account; default "email".
	OAuthAccountClaim string

	// LockoutThreshold locks an account after this many failed logins in
	// a row (within the throttle's memory of 15 minutes); 0 disables the
	// lockout. Addresses the account logged in from before are exempt.
	LockoutThreshold int
	// LockoutDuration is how long a lockout lasts; 0 means 15 minutes.
	LockoutDuration time.Duration

	// MaxSessionsPerAccount caps concurrent sessions of one account (see
	// Service.Acquire); 0 means no cap.
	MaxSessionsPerAccount int

	// PasswordCacheTTL is how long a verified password is remembered in
	// memory (see verifiedCache); 0 means 10 minutes, negative disables.
	PasswordCacheTTL time.Duration

	// Logger receives auth events; never passwords, hashes or tokens.
	// Nil discards.
	Logger *slog.Logger
}

// Service checks passwords and starts SASL exchanges. It is safe for
// concurrent use by many sessions; the server builds one per process (or per
// reload) and hands it to every protocol engine.
type Service struct {
	accounts Accounts
	cfg      Config
	trusted  []netip.Prefix
	masters  map[string]bool
	throttle *Throttle
	log      *slog.Logger

	// hashes bounds concurrent argon2id computations (64 MiB each).
	hashes    *hashGate
	dummyOnce sync.Once
	dummy     map[string]string
	// fakeSalt keys the made-up SCRAM salts of unknown users.
	fakeSalt []byte
	// dummyPlain is a plaintext-equivalent record of no account, opened
	// in place of a missing one (CRAM-MD5, APOP).
	dummyPlain map[string]string

	verified *verifiedCache

	gss  *gssAcceptor // nil without a keytab
	jwks *keySet      // nil without a JWKS file

	sessMu   sync.Mutex
	sessions map[string]int

	// Test hooks: nonce and challenge sources, and the clock.
	scramNonce scram.NonceGeneratorFcn
	challenge  func() string
	now        func() time.Time
}

// New returns a Service over the given credential source. Configuration
// problems (an unreadable keytab or JWKS, a bad key length) are logged and
// the affected mechanisms stay off; use Open to get them as an error.
func New(accounts Accounts, cfg Config) *Service {
	s, err := Open(accounts, cfg)
	if err != nil {
		s.log.Error("auth configuration", "err", err)
	}
	return s
}

// Open is New that reports configuration errors. The returned Service is
// usable even with an error (the broken parts are off).
func Open(accounts Accounts, cfg Config) (*Service, error) {
	trusted := cfg.TrustedNetworks
	if trusted == nil {
		trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.PlainSecretKey = slices.Clone(cfg.PlainSecretKey)
	s := &Service{
		accounts: accounts,
		cfg:      cfg,
		trusted:  trusted,
		masters:  make(map[string]bool),
		throttle: NewThrottle(),
		log:      log,
		hashes:   newHashGate(4),
		fakeSalt: randomBytes(32),
		sessions: make(map[string]int),
		now:      time.Now,
	}
	for _, m := range cfg.MasterUsers {
		s.masters[strings.ToLower(m)] = true
	}
	ttl := cfg.PasswordCacheTTL
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	s.verified = newVerifiedCache(ttl, func() time.Time { return s.now() })
	s.throttle.lockAfter = cfg.LockoutThreshold
	if cfg.LockoutDuration > 0 {
		s.throttle.lockFor = cfg.LockoutDuration
	}
	var errs []error
	if len(cfg.PlainSecretKey) != 0 && len(cfg.PlainSecretKey) != 32 {
		errs = append(errs, errors.New("auth: plain secret key must be 32 bytes"))
		s.cfg.PlainSecretKey = nil
	}
	if s.plainSecretsOn() {
		s.dummyPlain, _ = PlainEquivalentSecrets(string(randomBytes(12)), s.cfg.PlainSecretKey)
	}
	switch strings.ToLower(cfg.ClientCertIdentity) {
	case "", "cn", "email":
	default:
		errs = append(errs, errors.New("auth: client_cert_identity must be cn or email"))
	}
	if cfg.KeytabFile != "" {
		g, err := newGSSAcceptor(cfg)
		if err != nil {
			errs = append(errs, err)
		} else {
			s.gss = g
		}
	}
	if cfg.JWKSFile != "" {
		ks, err := loadKeySet(cfg.JWKSFile)
		switch {
		case err != nil:
			errs = append(errs, err)
		case cfg.OAuthIssuer == "" || cfg.OAuthAudience == "":
			errs = append(errs, errors.New("auth: a JWKS needs an OAuth issuer and audience"))
		default:
			s.jwks = ks
		}
	}
	return s, errors.Join(errs...)
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

// plainSecretsOn reports whether plaintext-equivalent secrets can be read.
func (s *Service) plainSecretsOn() bool { return len(s.cfg.PlainSecretKey) == 32 }

// APOPEnabled reports whether POP3 sessions should offer APOP (put a
// timestamp in the greeting). Called by the POP3 server once per connection.
func (s *Service) APOPEnabled() bool { return s.cfg.EnableAPOP && s.plainSecretsOn() }

// Mechanisms lists the SASL mechanisms usable on this connection, in the
// order to advertise them (strongest first). A mechanism is listed only
// where it can work: PLAIN and LOGIN need TLS or a trusted network; -PLUS
// variants need TLS with a channel binding; EXTERNAL needs a verified client
// certificate; CRAM-MD5, GSSAPI and OAuth need their configuration.
func (s *Service) Mechanisms(c ConnInfo) []string {
	var m []string
	if c.TLS != nil && len(channelBindings(c)) > 0 {
		m = append(m, "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS")
	}
	m = append(m, "SCRAM-SHA-256", "SCRAM-SHA-1")
	if s.gss != nil {
		m = append(m, "GSSAPI")
	}
	if clientCertificate(c) != nil {
		m = append(m, "EXTERNAL")
	}
	if s.jwks != nil && s.PlaintextAllowed(c) {
		// Bearer tokens are as replayable as passwords: same rule.
		m = append(m, "OAUTHBEARER", "XOAUTH2")
	}
	if s.cfg.EnableCRAMMD5 && s.plainSecretsOn() {
		m = append(m, "CRAM-MD5")
	}
	if s.PlaintextAllowed(c) {
		m = append(m, "PLAIN", "LOGIN")
	}
	return m
}

// Start begins a SASL exchange with the named mechanism (case-insensitive).
// It returns ErrPlaintextRefused for PLAIN, LOGIN, OAUTHBEARER and XOAUTH2
// on a cleartext connection from an untrusted network (IMAP answers NO
// [PRIVACYREQUIRED]), and ErrMechanism for any other mechanism that
// Mechanisms(c) does not list.
func (s *Service) Start(ctx context.Context, c ConnInfo, mechanism string) (Exchange, error) {
	mech := strings.ToUpper(mechanism)
	offered := false
	for _, m := range s.Mechanisms(c) {
		if m == mech {
			offered = true
			break
		}
	}
	if !offered {
		// Say why a mechanism that works elsewhere is refused here.
		cleartextOnly := mech == "PLAIN" || mech == "LOGIN" ||
			(s.jwks != nil && (mech == "OAUTHBEARER" || mech == "XOAUTH2"))
		if cleartextOnly && !s.PlaintextAllowed(c) {
			return nil, ErrPlaintextRefused
		}
		return nil, ErrMechanism
	}
	switch mech {
	case "PLAIN":
		return &plainExchange{s: s, c: c}, nil
	case "LOGIN":
		return &loginExchange{s: s, c: c}, nil
	case "CRAM-MD5":
		return &cramExchange{s: s, c: c}, nil
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS":
		return s.newSCRAM(c, mech), nil
	case "EXTERNAL":
		return &externalExchange{s: s, c: c}, nil
	case "GSSAPI":
		return &gssExchange{s: s, c: c}, nil
	case "OAUTHBEARER":
		return &oauthExchange{s: s, c: c, xoauth2: false}, nil
	case "XOAUTH2":
		return &oauthExchange{s: s, c: c, xoauth2: true}, nil
	}
	return nil, ErrMechanism
}

// isMaster reports whether login name user may act as other accounts.
func (s *Service) isMaster(user, account string) bool {
	return s.masters[strings.ToLower(user)] || s.masters[strings.ToLower(account)]
}

// authorize resolves an authorization identity: empty or the user's own
// name or account keeps the account; another name needs a master user and
// must be an existing account. Called after the credentials were verified.
func (s *Service) authorize(ctx context.Context, c ConnInfo, user, account, authzid string) (string, error) {
	if authzid == "" || equalFold(authzid, user) || equalFold(authzid, account) {
		return account, nil
	}
	if !s.isMaster(user, account) {
		s.log.Warn("auth: authorization identity refused", "user", user, "authzid", authzid, "remote", c.RemoteAddr())
		return "", ErrFailed
	}
	target, _, err := s.accounts.Secrets(ctx, authzid)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return "", ErrFailed
		}
		return "", err
	}
	s.log.Info("auth: master user login", "user", user, "account", target, "remote", c.RemoteAddr())
	return target, nil
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
