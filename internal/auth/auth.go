// Package auth checks credentials and runs SASL exchanges for every
// protocol: one implementation behind IMAP AUTHENTICATE, POP3 AUTH/USER/APOP
// and, later, SMTP AUTH. It never sees a protocol's wire syntax: sessions
// base64-decode client responses and hand the raw bytes in.
//
// Mechanisms (Service.Start; Service.Mechanisms lists those that can work
// on a connection):
//
//   - SCRAM-SHA-256, SCRAM-SHA-1 (RFC 7677, RFC 5802) and their -PLUS
//     variants with tls-exporter (RFC 9266) or tls-server-end-point (RFC
//     5929) channel binding, checked against per-account SCRAM keys.
//   - PLAIN (RFC 4616) and LOGIN: only over TLS or from a trusted network.
//     A PLAIN authzid naming another account needs Config.MasterUsers.
//   - EXTERNAL (RFC 4422 App. A): a TLS client certificate verified by the
//     TLS layer, its CN or email SAN naming the account.
//   - GSSAPI (RFC 4752): Kerberos 5 with the service keytab, mutual
//     authentication (AP-REP), no security layer.
//   - OAUTHBEARER (RFC 7628) and XOAUTH2: RS256/ES256 JWTs checked against a
//     JWKS file, issuer, audience and expiry.
//   - CRAM-MD5 (RFC 2195) and POP3 APOP (RFC 1939 §7): off by default; they
//     need a plaintext-equivalent secret (see PlainEquivalentSecrets).
//
// Credential records (Accounts.Secrets) are made by HashPassword: an
// argon2id hash and SCRAM keys, never the password. Imported Dovecot hashes
// (ImportPasswdLine) are verified and upgraded at the next login.
//
// Failed logins are slowed per address and per login name (Throttle), an
// unknown user gets the same answer after the same work as a wrong
// password (at least one argon2id computation, whatever scheme the
// account's hash is in), and logs never carry passwords, hashes or tokens.
//
// A Service is safe for concurrent use by many sessions.
package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// Errors returned to sessions. Sessions map them to protocol replies; they
// must not reveal whether a user exists.
var (
	// ErrFailed: wrong credentials or unknown user (same answer for both).
	ErrFailed = errors.New("authentication failed")
	// ErrUnknownUser is returned by Accounts.Secrets; Service turns it
	// into ErrFailed.
	ErrUnknownUser = errors.New("unknown user")
	// ErrMechanism: the mechanism is unknown or not offered here.
	ErrMechanism = errors.New("mechanism not available")
	// ErrPlaintextRefused: a cleartext password on an untrusted,
	// unencrypted connection.
	ErrPlaintextRefused = errors.New("plaintext authentication disallowed without TLS")
	// ErrCanceled: the client canceled the exchange ("*").
	ErrCanceled = errors.New("authentication canceled")
	// ErrMalformed: the client's response does not parse.
	ErrMalformed = errors.New("malformed authentication response")
)

// Accounts is where credentials live. The server wires the store in
// (store.Credentials); auth does not import the store.
type Accounts interface {
	// Secrets returns the canonical account name and its credential
	// records for a login name, or ErrUnknownUser.
	Secrets(ctx context.Context, username string) (account string, secrets map[string]string, err error)
	// SetSecrets replaces an account's credential records (hash upgrades).
	SetSecrets(ctx context.Context, account string, secrets map[string]string) error
}

// ConnInfo describes the connection a login arrives on.
type ConnInfo struct {
	Remote net.Addr
	Local  net.Addr
	// TLS is nil on a cleartext connection. For EXTERNAL the TLS layer
	// must have verified the client certificate (VerifiedChains set, as
	// tls.VerifyClientCertIfGiven with ClientCAs does).
	TLS *tls.ConnectionState
	// ServerCertificate is the DER leaf certificate this server presented
	// on the connection (tls.Certificate.Certificate[0] of the one chosen).
	// It enables the tls-server-end-point channel binding (RFC 5929) for
	// SCRAM-*-PLUS; without it only tls-exporter (RFC 9266) is offered.
	ServerCertificate []byte
}

// RemoteAddr returns the remote IP, or the zero Addr.
func (c ConnInfo) RemoteAddr() netip.Addr {
	if c.Remote == nil {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(c.Remote.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Exchange is one running SASL exchange (RFC 4422).
type Exchange interface {
	// Next takes the client's response (nil when the client sent no
	// initial response) and returns the next server challenge. When done is
	// true and err is nil, the client is authenticated as Account(); a
	// non-nil challenge with done true is additional data to send with
	// success (e.g. SCRAM's server-final message).
	Next(ctx context.Context, response []byte) (challenge []byte, done bool, err error)
	// Account is the authenticated account name once Next reported done.
	Account() string
}

// AuthenticatedAs returns the account whose credentials a finished
// exchange checked when that is not ex.Account(): a master user
// (Config.MasterUsers) who named another account as the authorization
// identity. It is "" for an ordinary login, for a failed one, and for
// mechanisms without an authorization identity. Sessions log it so that a
// login as someone else shows who really logged in.
func AuthenticatedAs(ex Exchange) string {
	if a, ok := ex.(interface{ authenticatedAs() string }); ok {
		return a.authenticatedAs()
	}
	return ""
}

// actingAs is kept by the exchanges that take an authorization identity:
// the master account behind a login as another account, or "".
type actingAs struct{ master string }

func (a *actingAs) authenticatedAs() string { return a.master }

// acting records the outcome of Service.authorize: own is the account of
// the checked credentials, target the one logged in.
func (a *actingAs) acting(own, target string) {
	if !strings.EqualFold(own, target) {
		a.master = own
	}
}
