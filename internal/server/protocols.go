package server

import (
	"time"

	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/delivery"
	"github.com/postern/postern/internal/imapserver"
	"github.com/postern/postern/internal/pop3server"
	"github.com/postern/postern/internal/store"
)

// protocols holds the protocol servers of one Server. Each is created
// once; the IMAP server serves both IMAP and IMAPS, the POP3 server both
// POP3 and POP3S, the delivery server LMTP and SMTP.
type protocols struct {
	imap *imapserver.Server
	pop3 *pop3server.Server
	dlv  *delivery.Server
}

func newProtocols(s *Server) (*protocols, error) {
	authSvc, err := newAuth(s)
	if err != nil {
		return nil, err
	}
	c := &s.cfg
	maxSize := int64(c.Limits.MaxMessageSize)
	return &protocols{
		imap: imapserver.New(imapserver.Options{
			Store:          s.store,
			Auth:           authSvc,
			TLSConfig:      s.tlsCfg,
			Logger:         s.log.With("proto", "imap"),
			MaxMessageSize: maxSize,
			IdleTimeout:    c.Limits.IMAPIdleTimeout.D(),
			Hostname:       s.hostname,
		}),
		pop3: pop3server.New(pop3server.Options{
			Store:       s.store,
			Auth:        authSvc,
			TLSConfig:   s.tlsCfg,
			Logger:      s.log,
			Hostname:    s.hostname,
			IdleTimeout: c.Limits.POP3IdleTimeout.D(),
			Expire:      strings.ToUpper(c.POP3.Expire.String()),
			LoginDelay:  c.POP3.LoginDelay.D(),
		}),
		dlv: delivery.New(delivery.Options{
			Store:          s.store,
			Logger:         s.log,
			Hostname:       s.hostname,
			MaxMessageSize: maxSize,
			Domains:        c.Domains,
			ReadTimeout:    c.Limits.LMTPTimeout.D(),
			WriteTimeout:   c.Limits.LMTPTimeout.D(),
			TLSConfig:      s.tlsCfg,
		}),
	}, nil
}

func (p *protocols) serveIMAP(l net.Listener) error { return p.imap.Serve(l) }
func (p *protocols) servePOP3(l net.Listener) error { return p.pop3.Serve(l) }
func (p *protocols) serveLMTP(l net.Listener) error { return p.dlv.ServeLMTP(l) }
func (p *protocols) serveSMTP(l net.Listener) error { return p.dlv.ServeSMTP(l) }

// services lists the servers to shut down.
func (p *protocols) services() []service {
	return []service{p.imap, p.pop3, p.dlv}
}

// newAuth builds the auth service of the configuration. A key file, keytab
// or JWKS that cannot be loaded is an error: the server does not start with
// a mechanism silently missing.
func newAuth(s *Server) (*auth.Service, error) {
	a := &s.cfg.Auth
	var trusted []netip.Prefix
	if a.TrustedNetworks != nil {
		trusted = make([]netip.Prefix, 0, len(a.TrustedNetworks))
		for _, p := range a.TrustedNetworks {
			trusted = append(trusted, p.Prefix)
		}
	}
	key, err := s.cfg.PlainSecretKey()
	if err != nil {
		return nil, err
	}
	svc, err := auth.Open(store.CredentialSource{Store: s.store, UnknownUser: auth.ErrUnknownUser}, auth.Config{
		TrustedNetworks:       trusted,
		MasterUsers:           a.MasterUsers,
		PlainSecretKey:        key,
		EnableCRAMMD5:         a.CRAMMD5,
		EnableAPOP:            a.APOP,
		SCRAMIterations:       a.SCRAMIterations,
		ClientCertIdentity:    a.ClientCertIdentity,
		KeytabFile:            a.Keytab,
		ServicePrincipal:      a.ServicePrincipal,
		KerberosRealms:        a.KerberosRealms,
		JWKSFile:              a.JWKSFile,
		OAuthIssuer:           a.OAuthIssuer,
		OAuthAudience:         a.OAuthAudience,
		OAuthAccountClaim:     a.OAuthAccountClaim,
		LockoutThreshold:      a.LockoutThreshold,
		LockoutDuration:       a.LockoutDuration.D(),
		MaxSessionsPerAccount: a.MaxSessionsPerAccount,
		PasswordCacheTTL:      passwordCacheTTL(a.PasswordCacheTTL.D()),
		Logger:                s.log.With("component", "auth"),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return svc, nil
}

// passwordCacheTTL maps the configuration's "0s = off" to auth's
// "negative = off".
func passwordCacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
