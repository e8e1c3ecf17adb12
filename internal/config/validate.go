package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
)

// Validate checks values that decode but cannot work. It returns *Error
// values (joined) naming the offending keys. It does not touch the file
// system; see CheckFiles.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must not be empty")
	}
	for i, d := range c.Domains {
		if d == "" || strings.ContainsAny(d, "@ \t/") {
			bad("domains", "entry %d (%q) is not a domain name", i+1, d)
		}
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	for _, l := range []struct {
		key, addr string
		unix      bool
	}{
		{"listen.lmtp", c.Listen.LMTP, true},
		{"listen.smtp", c.Listen.SMTP, false},
		{"listen.imap", c.Listen.IMAP, false},
		{"listen.imaps", c.Listen.IMAPS, false},
		{"listen.pop3", c.Listen.POP3, false},
		{"listen.pop3s", c.Listen.POP3S, false},
	} {
		if err := checkAddr(l.addr, l.unix); err != nil {
			bad(l.key, "%v", err)
		}
	}
	for i, p := range c.TLS.Certificates {
		if p.Cert == "" || p.Key == "" {
			bad("tls.certificate", "entry %d needs both cert and key", i+1)
		}
	}
	if c.TLS.MinVersion != "1.2" && c.TLS.MinVersion != "1.3" {
		bad("tls.min_version", "must be \"1.2\" or \"1.3\", not %q", c.TLS.MinVersion)
	}
	if c.TLS.HandshakeTimeout <= 0 {
		bad("tls.handshake_timeout", "must be positive")
	}
	a := &c.Auth
	for i, u := range a.MasterUsers {
		if strings.TrimSpace(u) == "" {
			bad("auth.master_users", "entry %d is empty", i+1)
		}
	}
	if a.SCRAMIterations != 0 && (a.SCRAMIterations < 4096 || a.SCRAMIterations > 10_000_000) {
		bad("auth.scram_iterations", "must be 0 (default 4096) or between 4096 (RFC 7677) and 10000000")
	}
	if (a.CRAMMD5 || a.APOP) && a.PlainSecretKeyFile == "" {
		bad("auth.plain_secret_key_file", "cram_md5 and apop need plain_secret_key_file")
	}
	switch strings.ToLower(a.ClientCertIdentity) {
	case "", "cn", "email":
	default:
		bad("auth.client_cert_identity", "must be \"cn\" or \"email\", not %q", a.ClientCertIdentity)
	}
	if a.LockoutThreshold < 0 {
		bad("auth.lockout_threshold", "must not be negative (0 = no lockout)")
	}
	if a.MaxSessionsPerAccount < 0 {
		bad("auth.max_sessions_per_account", "must not be negative (0 = no limit)")
	}
	if c.Limits.MaxMessageSize < 1024 {
		bad("limits.max_message_size", "must be at least 1K")
	}
	if c.Limits.ConnectionsPerIP < 0 {
		bad("limits.connections_per_ip", "must not be negative (0 = no limit)")
	}
	if c.Limits.MaxConnections < 0 {
		bad("limits.max_connections", "must not be negative (0 = no limit)")
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{
		{"limits.imap_idle_timeout", c.Limits.IMAPIdleTimeout},
		{"limits.pop3_idle_timeout", c.Limits.POP3IdleTimeout},
		{"limits.lmtp_timeout", c.Limits.LMTPTimeout},
	} {
		if t.d <= 0 {
			bad(t.key, "must be positive")
		}
	}
	if c.Store.TombstoneRetention <= 0 {
		bad("store.tombstone_retention", "must be positive, e.g. \"2160h\" (90 days)")
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "must be \"text\" or \"json\", not %q", c.Log.Format)
	}
	return errors.Join(errs...)
}

// CheckFiles reports certificate and key files that cannot be read
// (`postern config check`; the server reports the same when it loads them).
func (c *Config) CheckFiles() error {
	var errs []error
	if _, err := c.PlainSecretKey(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct{ key, path string }{
		{"auth.keytab", c.Auth.Keytab},
		{"auth.jwks_file", c.Auth.JWKSFile},
		{"tls.client_ca", c.TLS.ClientCA},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, &Error{Key: f.key, Msg: err.Error()})
		}
	}
	for i, p := range c.TLS.Certificates {
		for _, f := range []string{p.Cert, p.Key} {
			if _, err := os.Stat(f); err != nil {
				errs = append(errs, &Error{Key: "tls.certificate", Msg: fmt.Sprintf("entry %d: %v", i+1, err)})
			}
		}
	}
	return errors.Join(errs...)
}

// PlainSecretKey reads auth.plain_secret_key_file: 64 hex digits (blank
// space around them ignored). It returns nil when no file is configured.
func (c *Config) PlainSecretKey() ([]byte, error) {
	if c.Auth.PlainSecretKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.Auth.PlainSecretKeyFile)
	if err != nil {
		return nil, &Error{Key: "auth.plain_secret_key_file", Msg: err.Error()}
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, &Error{Key: "auth.plain_secret_key_file", Msg: "file must hold 64 hex digits (create it with: openssl rand -hex 32)"}
	}
	return key, nil
}

// IsUnixSocket reports whether an LMTP address names a unix socket, and
// returns its path.
func IsUnixSocket(addr string) (string, bool) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		return p, true
	}
	if strings.HasPrefix(addr, "/") {
		return addr, true
	}
	return "", false
}

func checkAddr(addr string, unixOK bool) error {
	if addr == "" {
		return nil
	}
	if path, ok := IsUnixSocket(addr); ok {
		if !unixOK {
			return fmt.Errorf("unix sockets are only supported for lmtp (%q)", addr)
		}
		if path == "" {
			return fmt.Errorf("empty unix socket path")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q (want host:port, e.g. 127.0.0.1:143)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port in %q", addr)
	}
	return nil
}

// ParseLevel turns a level name into a slog.Level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}
