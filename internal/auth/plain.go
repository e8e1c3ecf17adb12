package auth

import (
	"bytes"
	"context"
)

// plainExchange is SASL PLAIN (RFC 4616): authzid NUL authcid NUL passwd.
type plainExchange struct {
	s       *Service
	c       ConnInfo
	account string
	asked   bool
	actingAs
}

func (e *plainExchange) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if resp == nil && !e.asked {
		e.asked = true
		return []byte{}, false, nil
	}
	f := bytes.Split(resp, []byte{0})
	if len(f) != 3 || len(f[1]) == 0 {
		return nil, true, ErrMalformed
	}
	authz, user, pass := string(f[0]), string(f[1]), string(f[2])
	account, err := e.s.CheckPassword(ctx, e.c, user, pass)
	if err != nil {
		return nil, true, err
	}
	// RFC 4616 §2: an authorization identity other than the user itself
	// needs master user rights (Config.MasterUsers).
	target, err := e.s.authorize(ctx, e.c, user, account, authz)
	if err != nil {
		return nil, true, err
	}
	e.acting(account, target)
	e.account = target
	return nil, true, nil
}

func (e *plainExchange) Account() string { return e.account }

// loginExchange is the LOGIN mechanism (draft-murchison-sasl-login):
// "Username:" then "Password:" challenges.
type loginExchange struct {
	s       *Service
	c       ConnInfo
	step    int
	user    string
	account string
}

func (e *loginExchange) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	switch e.step {
	case 0:
		e.step = 1
		if resp == nil || len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		e.user = string(resp)
		e.step = 2
		return []byte("Password:"), false, nil
	case 1:
		e.user = string(resp)
		e.step = 2
		return []byte("Password:"), false, nil
	default:
		account, err := e.s.CheckPassword(ctx, e.c, e.user, string(resp))
		if err != nil {
			return nil, true, err
		}
		e.account = account
		return nil, true, nil
	}
}

func (e *loginExchange) Account() string { return e.account }
