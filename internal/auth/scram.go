package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"hash"
	"strings"

	"github.com/xdg-go/scram"
)

// Channel binding types offered with the -PLUS mechanisms, preferred first.
const (
	cbTLSExporter       = "tls-exporter"         // RFC 9266
	cbTLSServerEndPoint = "tls-server-end-point" // RFC 5929 §4
)

// channelBindings returns the channel bindings this TLS connection can
// prove, by type. tls-exporter needs TLS 1.3, or TLS 1.2 with extended
// master secret (crypto/tls refuses to export otherwise, RFC 9266 §3);
// tls-server-end-point needs ConnInfo.ServerCertificate.
func channelBindings(c ConnInfo) map[string]scram.ChannelBinding {
	if c.TLS == nil {
		return nil
	}
	out := make(map[string]scram.ChannelBinding)
	if ekm, err := c.TLS.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err == nil {
		out[cbTLSExporter] = scram.ChannelBinding{Type: scram.ChannelBindingTLSExporter, Data: ekm}
	}
	if len(c.ServerCertificate) > 0 {
		if h, err := serverEndPoint(c.ServerCertificate); err == nil {
			out[cbTLSServerEndPoint] = scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: h}
		}
	}
	return out
}

// serverEndPoint hashes the server certificate as RFC 5929 §4.1 says: with
// the hash of its signature algorithm, SHA-256 in place of MD5 and SHA-1.
func serverEndPoint(der []byte) ([]byte, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	cb, err := scram.NewTLSServerEndpointBinding(cs)
	if err != nil {
		return nil, err
	}
	return cb.Data, nil
}

// scramExchange is SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) and
// their -PLUS variants, over xdg-go/scram's server conversation. Unknown
// users and accounts without SCRAM keys get made-up keys with a stable salt,
// so they fail at the proof exactly like a wrong password.
type scramExchange struct {
	s      *Service
	c      ConnInfo
	mech   string
	plus   bool
	hf     func() hash.Hash
	secret string

	ctx       context.Context // of the Next call running the lookup
	conv      *scram.ServerConversation
	user      string // the login name as sent
	key       string // its throttle key (see Service.gate)
	account   string
	known     bool
	lookupErr error
	started   bool
	actingAs
}

func (s *Service) newSCRAM(c ConnInfo, mech string) *scramExchange {
	e := &scramExchange{s: s, c: c, mech: mech, plus: strings.HasSuffix(mech, "-PLUS")}
	if strings.HasPrefix(mech, "SCRAM-SHA-256") {
		e.hf, e.secret = sha256.New, SecretSCRAMSHA256
	} else {
		e.hf, e.secret = sha1.New, SecretSCRAMSHA1
	}
	return e
}

func (e *scramExchange) Account() string { return e.account }

func (e *scramExchange) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	e.ctx = ctx
	defer func() { e.ctx = nil }()
	if e.conv == nil {
		if resp == nil && !e.started {
			// SCRAM is client-first: ask for the client-first-message.
			e.started = true
			return []byte{}, false, nil
		}
		if err := e.begin(string(resp)); err != nil {
			return nil, true, err
		}
		out, err := e.conv.Step(string(resp))
		if e.lookupErr != nil {
			return nil, true, e.lookupErr
		}
		if err != nil {
			e.s.failed(e.c, e.key, e.mech+": "+firstField(out))
			return nil, true, ErrFailed
		}
		return []byte(out), false, nil
	}
	out, err := e.conv.Step(string(resp))
	if err != nil || !e.conv.Valid() || !e.known {
		// A channel-binding mismatch lands here too (e=channel-bindings-dont-match).
		e.s.failed(e.c, e.key, e.mech+": "+firstField(out))
		return nil, true, ErrFailed
	}
	account, err := e.s.authorize(ctx, e.c, e.user, e.account, e.conv.AuthzID())
	if err != nil {
		return nil, true, err
	}
	e.acting(e.account, account)
	e.account = account
	e.s.succeeded(e.c.RemoteAddr(), e.key)
	return []byte(out), true, nil
}

// firstField keeps a server error like "e=invalid-proof" for the log.
func firstField(s string) string {
	if strings.HasPrefix(s, "e=") {
		return s
	}
	return "refused"
}

// begin checks the GS2 header against the mechanism (RFC 5802 §6) and
// sets up the conversation with the matching channel binding.
func (e *scramExchange) begin(c1 string) error {
	flag, cbType, ok := parseGS2Flag(c1)
	if !ok {
		return ErrMalformed
	}
	bindings := channelBindings(e.c)
	srv, err := scram.HashGeneratorFcn(e.hf).NewServer(e.lookup)
	if err != nil {
		return err
	}
	if e.s.scramNonce != nil {
		srv = srv.WithNonceGenerator(e.s.scramNonce)
	}
	switch {
	case e.plus:
		// -PLUS demands channel binding of a type this connection has.
		cb, has := bindings[cbType]
		if flag != "p" || !has {
			e.s.failed(e.c, "", e.mech+": channel binding type refused")
			return ErrFailed
		}
		e.conv = srv.NewConversationWithChannelBindingRequired(cb)
	case flag == "p":
		// "p" with a non-PLUS mechanism is a protocol error (§6).
		return ErrMalformed
	case len(bindings) > 0:
		// PLUS was advertised: a "y" client saw it stripped (downgrade).
		for _, t := range []string{cbTLSExporter, cbTLSServerEndPoint} {
			if cb, has := bindings[t]; has {
				e.conv = srv.NewConversationWithChannelBinding(cb)
				break
			}
		}
	default:
		e.conv = srv.NewConversation()
	}
	return nil
}

// parseGS2Flag reads "n,", "y," or "p=type," from a client-first-message.
func parseGS2Flag(c1 string) (flag, cbType string, ok bool) {
	i := strings.IndexByte(c1, ',')
	if i < 0 {
		return "", "", false
	}
	switch f := c1[:i]; {
	case f == "n" || f == "y":
		return f, "", true
	case strings.HasPrefix(f, "p=") && len(f) > 2:
		return "p", f[2:], true
	}
	return "", "", false
}

// lookup is the conversation's credential callback: it waits out the
// throttle and returns the account's keys, or made-up keys.
func (e *scramExchange) lookup(user string) (scram.StoredCredentials, error) {
	e.user, e.key = user, strings.ToLower(user)
	g, err := e.s.gate(e.ctx, e.c, user)
	if err != nil {
		e.lookupErr = err
		return scram.StoredCredentials{}, err
	}
	e.key = g.key
	if g.account != "" && !g.locked {
		if k, perr := parseSCRAMKeys(g.secrets[e.secret], e.hf().Size()); perr == nil {
			e.account, e.known = g.account, true
			return storedCredentials(k), nil
		}
	}
	return storedCredentials(e.fakeKeys(user)), nil
}

// fakeKeys are keys no password matches, with a salt that is stable per
// user so that repeated probes cannot tell a made-up user from a real one.
func (e *scramExchange) fakeKeys(user string) scramKeys {
	m := hmac.New(sha256.New, e.s.fakeSalt)
	m.Write([]byte(e.mech + "\x00" + strings.ToLower(user)))
	salt := m.Sum(nil)[:16]
	n := e.hf().Size()
	iters := e.s.cfg.SCRAMIterations
	if iters <= 0 {
		iters = DefaultSCRAMIterations
	}
	return scramKeys{iters: iters, salt: salt, storedKey: randomBytes(n), serverKey: randomBytes(n)}
}

func storedCredentials(k scramKeys) scram.StoredCredentials {
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(k.salt), Iters: k.iters},
		StoredKey:  k.storedKey,
		ServerKey:  k.serverKey,
	}
}
