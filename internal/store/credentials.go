package store

import (
	"context"
	"errors"
	"strings"
)

// CredentialSource adapts a Store to what package auth reads credentials
// from (auth.Accounts). It lives here so that auth does not import the
// store; unknownUser is the error auth expects for a missing account.
type CredentialSource struct {
	Store       Store
	UnknownUser error
}

// Secrets returns the account name and credential records for a login name.
// A login name "user@domain" is tried as given, then as "user".
func (c CredentialSource) Secrets(ctx context.Context, username string) (string, map[string]string, error) {
	name := strings.ToLower(username)
	a, err := c.Store.Account(ctx, name)
	if errors.Is(err, ErrNoAccount) {
		if at := strings.LastIndexByte(name, '@'); at > 0 {
			a, err = c.Store.Account(ctx, name[:at])
		}
	}
	if errors.Is(err, ErrNoAccount) {
		return "", nil, c.UnknownUser
	}
	if err != nil {
		return "", nil, err
	}
	return a.Name, a.Secrets, nil
}

// SetSecrets replaces an account's credential records.
func (c CredentialSource) SetSecrets(ctx context.Context, account string, secrets map[string]string) error {
	a, err := c.Store.Account(ctx, account)
	if err != nil {
		return err
	}
	return c.Store.SetSecrets(ctx, a.ID, secrets)
}
