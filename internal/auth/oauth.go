package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// oauthExchange is OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's older
// format): the client sends a bearer token, which must be a JWT signed by a
// key of the configured JWKS, for our issuer and audience, unexpired, with
// a claim naming the account. A rejected token gets an error challenge
// (RFC 7628 §3.2.2); the client's dummy reply ends the exchange in failure.
type oauthExchange struct {
	s       *Service
	c       ConnInfo
	xoauth2 bool

	asked   bool
	failing bool
	account string
}

func (e *oauthExchange) Account() string { return e.account }

func (e *oauthExchange) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if e.failing {
		// RFC 7628 §3.2.3: the client acknowledges the error with %x01
		// (XOAUTH2 clients send an empty response); either way it failed.
		return nil, true, ErrFailed
	}
	if resp == nil && !e.asked {
		e.asked = true
		return []byte{}, false, nil
	}
	var user, token string
	var ok bool
	if e.xoauth2 {
		user, token, ok = parseXOAUTH2(string(resp))
	} else {
		user, token, ok = parseOAUTHBEARER(string(resp))
	}
	if !ok {
		return nil, true, ErrMalformed
	}
	addr := e.c.RemoteAddr()
	if err := e.s.throttle.Wait(ctx, addr, user); err != nil {
		return nil, true, err
	}
	account, err := e.check(ctx, user, token)
	if err != nil {
		if !errors.Is(err, ErrFailed) {
			return nil, true, err
		}
		e.failing = true
		return e.errorChallenge(), false, nil
	}
	e.s.succeeded(addr, user)
	e.account = account
	return nil, true, nil
}

// check verifies the token and resolves its account; user, when given,
// must name the same account.
func (e *oauthExchange) check(ctx context.Context, user, token string) (string, error) {
	claimName := e.s.cfg.OAuthAccountClaim
	if claimName == "" {
		claimName = "email"
	}
	name, err := verifyJWT(token, e.s.jwks.current(e.s.now()), tokenRules{
		issuer: e.s.cfg.OAuthIssuer, audience: e.s.cfg.OAuthAudience, accountClaim: claimName, now: e.s.now(),
	})
	if err != nil {
		// The reason goes to the log, never the token.
		e.s.failed(e.c, user, "bearer token: "+err.Error())
		return "", ErrFailed
	}
	account, _, err := e.s.accounts.Secrets(ctx, name)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			e.s.failed(e.c, name, "bearer token for unknown account")
			return "", ErrFailed
		}
		return "", err
	}
	if user != "" && !equalFold(user, name) && !equalFold(user, account) {
		other, _, err := e.s.accounts.Secrets(ctx, user)
		if err != nil || other != account {
			e.s.failed(e.c, user, "bearer token names another account")
			return "", ErrFailed
		}
	}
	return account, nil
}

// errorChallenge is the JSON error of RFC 7628 §3.2.2 (XOAUTH2 uses the
// same shape with an HTTP-like status).
func (e *oauthExchange) errorChallenge() []byte {
	status := "invalid_token"
	if e.xoauth2 {
		status = "401"
	}
	b, _ := json.Marshal(map[string]string{"status": status, "schemes": "bearer", "scope": "openid email"})
	return b
}

// parseOAUTHBEARER reads the client's initial response (RFC 7628 §3.1):
// gs2-header %x01 *(key "=" value %x01) %x01, with "auth=Bearer token".
// Channel binding ("p") is not defined for OAUTHBEARER.
func parseOAUTHBEARER(msg string) (user, token string, ok bool) {
	gs2, rest, found := strings.Cut(msg, "\x01")
	if !found {
		return "", "", false
	}
	f := strings.Split(gs2, ",")
	if len(f) != 3 || (f[0] != "n" && f[0] != "y") || f[2] != "" {
		return "", "", false
	}
	if f[1] != "" {
		a, isA := strings.CutPrefix(f[1], "a=")
		if !isA {
			return "", "", false
		}
		// saslname escapes (RFC 5801 §4): "=2C" is ',' and "=3D" is '='.
		user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(a)
	}
	if !strings.HasSuffix(rest, "\x01\x01") {
		return "", "", false
	}
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "\x01\x01"), "\x01") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "auth" {
			token, ok = bearer(v)
		}
	}
	return user, token, ok
}

// parseXOAUTH2 reads "user=" user %x01 "auth=Bearer " token %x01 %x01.
func parseXOAUTH2(msg string) (user, token string, ok bool) {
	if !strings.HasSuffix(msg, "\x01\x01") {
		return "", "", false
	}
	for _, kv := range strings.Split(strings.TrimSuffix(msg, "\x01\x01"), "\x01") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "user":
			user = v
		case "auth":
			token, ok = bearer(v)
		}
	}
	return user, token, ok && user != ""
}

// bearer takes the token out of "Bearer <token>" (scheme case-insensitive,
// RFC 6750 §2.1).
func bearer(v string) (string, bool) {
	scheme, tok, found := strings.Cut(v, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
