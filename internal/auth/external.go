package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
)

// clientCertificate returns the TLS client certificate when the TLS layer
// verified it against the configured CA, or nil.
func clientCertificate(c ConnInfo) *x509.Certificate {
	if c.TLS == nil || len(c.TLS.VerifiedChains) == 0 || len(c.TLS.PeerCertificates) == 0 {
		return nil
	}
	return c.TLS.PeerCertificates[0]
}

// certIdentity is the login name a client certificate stands for, by
// Config.ClientCertIdentity.
func (s *Service) certIdentity(cert *x509.Certificate) string {
	if strings.EqualFold(s.cfg.ClientCertIdentity, "email") {
		if len(cert.EmailAddresses) > 0 {
			return cert.EmailAddresses[0]
		}
		return ""
	}
	return cert.Subject.CommonName
}

// externalExchange is EXTERNAL (RFC 4422 Appendix A) with the identity of
// a verified TLS client certificate. The client's message is its
// authorization identity, empty to act as the certificate's account.
type externalExchange struct {
	s       *Service
	c       ConnInfo
	asked   bool
	account string
	actingAs
}

func (e *externalExchange) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if resp == nil && !e.asked {
		e.asked = true
		return []byte{}, false, nil
	}
	cert := clientCertificate(e.c)
	if cert == nil {
		return nil, true, ErrMechanism
	}
	name := e.s.certIdentity(cert)
	if name == "" {
		e.s.failed(e.c, "", "EXTERNAL: certificate names no account")
		return nil, true, ErrFailed
	}
	account, _, err := e.s.accounts.Secrets(ctx, name)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			e.s.failed(e.c, name, "EXTERNAL: no such account")
			return nil, true, ErrFailed
		}
		return nil, true, err
	}
	target, err := e.s.authorize(ctx, e.c, name, account, string(resp))
	if err != nil {
		return nil, true, err
	}
	e.acting(account, target)
	account = target
	e.account = account
	e.s.log.Info("auth: EXTERNAL login", "account", account, "subject", cert.Subject.String(), "remote", e.c.RemoteAddr())
	return nil, true, nil
}

func (e *externalExchange) Account() string { return e.account }
