// Package config turns a postern TOML file into validated settings.
//
// Lifecycle, as used by cmd/postern:
//
//  1. Default returns the built-in settings (what `postern serve` uses with
//     no file).
//  2. Parse (or Load) decodes a TOML document over those defaults. Keys
//     absent from the file keep their default; an unknown key or a value of
//     the wrong shape is an error naming the key and its line.
//  3. Validate checks values that decode but make no sense (a listener
//     address without a port, a negative limit); Parse calls it.
//  4. The caller applies command-line overrides and, if it changed
//     anything, calls Validate again.
//
// A Config is a plain value: callers copy it freely and never share one
// between goroutines while changing it.
package config

import (
	"os"
	"time"
)

// Config is the whole server configuration.
type Config struct {
	// DataDir holds the embedded store (postern.db, blobs/) and the
	// generated TLS certificate (tls/).
	DataDir string `toml:"data_dir"`
	// Hostname is announced in greetings and put in generated
	// certificates. Empty means the machine's host name.
	Hostname string `toml:"hostname"`
	// Domains are the local mail domains LMTP/SMTP accept recipients for.
	// Empty accepts any domain (the local part alone picks the account).
	Domains []string `toml:"domains"`
	// ShutdownTimeout bounds a clean shutdown: in-flight deliveries and
	// sessions get this long before connections are cut.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`

	Listen Listen `toml:"listen"`
	TLS    TLS    `toml:"tls"`
	Auth   Auth   `toml:"auth"`
	Limits Limits `toml:"limits"`
	Store  Store  `toml:"store"`
	Log    Log    `toml:"log"`
	POP3   POP3   `toml:"pop3"`
}

// Listen holds one address per listener. An empty address turns that
// listener off. An LMTP address starting with "/" or "unix:" is a unix
// socket path. Port 0 asks the system for a free port (the bound address is
// printed at start).
type Listen struct {
	LMTP  string `toml:"lmtp"`
	SMTP  string `toml:"smtp"`
	IMAP  string `toml:"imap"`
	IMAPS string `toml:"imaps"`
	POP3  string `toml:"pop3"`
	POP3S string `toml:"pop3s"`
}

// CertPair is one certificate chain and its private key, both PEM files.
type CertPair struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// TLS configures certificates. With no certificate a self-signed one is
// generated once under DataDir/tls.
type TLS struct {
	// Certificates are chosen by the client's SNI name; the first one is
	// the default.
	Certificates []CertPair `toml:"certificate"`
	// MinVersion is "1.2" or "1.3".
	MinVersion string `toml:"min_version"`
	// HandshakeTimeout bounds the TLS handshake on implicit-TLS listeners
	// (IMAPS, POP3S).
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// ReloadInterval is how often certificate files are checked for
	// changes; 0 turns the check off (SIGHUP still reloads).
	ReloadInterval Duration `toml:"reload_interval"`
	// ClientCA is a PEM file of CA certificates. When set, every TLS
	// listener (and STARTTLS) asks for a client certificate and verifies
	// one that is given against these CAs; a verified certificate allows
	// SASL EXTERNAL. Connections without a certificate still work.
	ClientCA string `toml:"client_ca"`
}

// Auth configures authentication (package auth).
type Auth struct {
	// TrustedNetworks may send cleartext passwords without TLS.
	TrustedNetworks []Prefix `toml:"trusted_networks"`
	// MasterUsers may log in as any account by naming it as the
	// authorization identity (SASL PLAIN authzid, SCRAM "a=").
	MasterUsers []string `toml:"master_users"`
	// SCRAMIterations is the PBKDF2 count for new SCRAM keys (0 = 4096).
	SCRAMIterations int `toml:"scram_iterations"`
	// PlainSecretKeyFile holds the 32-byte key (64 hex digits) that
	// encrypts the password copies CRAM-MD5 and APOP need, for accounts
	// that opted in (user add/passwd --plain-equivalent).
	PlainSecretKeyFile string `toml:"plain_secret_key_file"`
	// CRAMMD5 and APOP offer those mechanisms (they need the key file).
	CRAMMD5 bool `toml:"cram_md5"`
	APOP    bool `toml:"apop"`
	// ClientCertIdentity says which field of a TLS client certificate
	// names the account for SASL EXTERNAL: "cn" or "email".
	ClientCertIdentity string `toml:"client_cert_identity"`
	// Kerberos (GSSAPI): keytab file, service principal, client realms.
	Keytab           string   `toml:"keytab"`
	ServicePrincipal string   `toml:"service_principal"`
	KerberosRealms   []string `toml:"kerberos_realms"`
	// OAuth bearer tokens (OAUTHBEARER, XOAUTH2): the JSON Web Key Set
	// that signs them and the claims checked.
	JWKSFile          string `toml:"jwks_file"`
	OAuthIssuer       string `toml:"oauth_issuer"`
	OAuthAudience     string `toml:"oauth_audience"`
	OAuthAccountClaim string `toml:"oauth_account_claim"`
	// LockoutThreshold locks an account after that many failed logins in
	// a row (0 = never), for LockoutDuration.
	LockoutThreshold int      `toml:"lockout_threshold"`
	LockoutDuration  Duration `toml:"lockout_duration"`
	// MaxSessionsPerAccount caps concurrent sessions of one account
	// (0 = no cap).
	MaxSessionsPerAccount int `toml:"max_sessions_per_account"`
	// PasswordCacheTTL is how long a verified password is remembered in
	// memory so reconnecting clients skip the slow hash ("0s" = off).
	PasswordCacheTTL Duration `toml:"password_cache_ttl"`
}

// Limits bound what clients may use (DESIGN.md §5).
type Limits struct {
	// MaxMessageSize caps a delivered or appended message.
	MaxMessageSize Size `toml:"max_message_size"`
	// ConnectionsPerIP caps simultaneous connections from one address (one
	// /64 network for IPv6), over all listeners; 0 means no cap.
	ConnectionsPerIP int `toml:"connections_per_ip"`
	// MaxConnections caps simultaneous connections in total; 0 means no
	// cap.
	MaxConnections int `toml:"max_connections"`
	// IMAPIdleTimeout: an IMAP connection silent this long is closed (RFC
	// 9051 §5.4 asks for at least 30 minutes).
	IMAPIdleTimeout Duration `toml:"imap_idle_timeout"`
	// POP3IdleTimeout: RFC 1939 §3 asks for at least 10 minutes.
	POP3IdleTimeout Duration `toml:"pop3_idle_timeout"`
	// LMTPTimeout bounds each read and write of an LMTP/SMTP session.
	LMTPTimeout Duration `toml:"lmtp_timeout"`
}

// Store tunes the embedded store (package sqlite).
type Store struct {
	// TombstoneRetention is how long the store remembers the UID of an
	// expunged message, so that a QRESYNC client reconnecting later is
	// told exactly which UIDs vanished. A client whose last sync is older
	// than that still resyncs correctly, but is sent every UID missing
	// from the mailbox instead of only the recent expunges.
	TombstoneRetention Duration `toml:"tombstone_retention"`
}

// DefaultTombstoneRetention is the default Store.TombstoneRetention.
const DefaultTombstoneRetention = 90 * 24 * time.Hour

// Log configures log/slog output (on standard error).
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// POP3 holds POP3-only settings.
type POP3 struct {
	// Expire is the EXPIRE policy of RFC 2449 §6.7: how long the server
	// keeps messages after retrieval, announced to clients and enforced
	// by pop3server (see pop3server.Options.Expire).
	Expire Expire `toml:"expire"`
	// LoginDelay is the LOGIN-DELAY capability of RFC 2449 §6.5: the
	// minimum time between logins of one account.
	LoginDelay Duration `toml:"login_delay"`
}

// Defaults of the built-in configuration.
const (
	DefaultDataDir = "./postern-data"
	DefaultLMTP    = "127.0.0.1:2424"
	DefaultIMAP    = "127.0.0.1:1143"
	DefaultIMAPS   = "127.0.0.1:1993"
	DefaultPOP3    = "127.0.0.1:1110"
	DefaultPOP3S   = "127.0.0.1:1995"
)

// Default returns the built-in configuration: the embedded store under
// ./postern-data and every listener but SMTP on 127.0.0.1.
func Default() Config {
	return Config{
		DataDir:         DefaultDataDir,
		ShutdownTimeout: Duration(30 * time.Second),
		Listen: Listen{
			LMTP:  DefaultLMTP,
			IMAP:  DefaultIMAP,
			IMAPS: DefaultIMAPS,
			POP3:  DefaultPOP3,
			POP3S: DefaultPOP3S,
		},
		TLS: TLS{
			MinVersion:       "1.2",
			HandshakeTimeout: Duration(15 * time.Second),
			ReloadInterval:   Duration(10 * time.Second),
		},
		Limits: Limits{
			MaxMessageSize:   50 << 20,
			ConnectionsPerIP: 100,
			MaxConnections:   10000,
			IMAPIdleTimeout:  Duration(30 * time.Minute),
			POP3IdleTimeout:  Duration(10 * time.Minute),
			LMTPTimeout:      Duration(5 * time.Minute),
		},
		Auth: Auth{
			PasswordCacheTTL: Duration(10 * time.Minute),
		},
		Store: Store{
			TombstoneRetention: Duration(DefaultTombstoneRetention),
		},
		Log: Log{Level: "info", Format: "text"},
		POP3: POP3{
			Expire: ExpireNever,
		},
	}
}

// EffectiveHostname returns Hostname, or the machine's host name, or
// "localhost".
func (c *Config) EffectiveHostname() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}
