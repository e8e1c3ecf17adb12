package imapserver

import (
	"errors"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

// respError is an answer a handler chose: NO or BAD with an optional
// response code of RFC 9051 §7.1.
type respError struct {
	bad  bool
	code string
	text string
}

func (e *respError) Error() string { return e.text }

// errNo is a tagged NO with a response code ("" for none).
func errNo(code, text string) error { return &respError{code: code, text: text} }

// errBad is a tagged BAD.
func errBad(text string) error { return &respError{bad: true, text: text} }

// mapError turns a handler's error into the tagged status, response code
// and text. It is the one place that does so; unknown errors are logged
// with the session id and answered with a generic text.
func (s *session) mapError(c *command, err error) (status, code, text string) {
	var re *respError
	if errors.As(err, &re) {
		if re.bad {
			return "BAD", re.code, re.text
		}
		return "NO", re.code, re.text
	}
	switch {
	case errors.Is(err, store.ErrNoMailbox):
		switch c.name {
		case "APPEND", "COPY", "MOVE", "UID COPY", "UID MOVE":
			return "NO", "TRYCREATE", "Mailbox does not exist"
		}
		return "NO", "NONEXISTENT", "Mailbox does not exist"
	case errors.Is(err, store.ErrMailboxExists):
		return "NO", "ALREADYEXISTS", "Mailbox already exists"
	case errors.Is(err, store.ErrOverQuota):
		return "NO", "OVERQUOTA", "Quota exceeded"
	case errors.Is(err, store.ErrHasChildren):
		return "NO", "HASCHILDREN", "Mailbox has children"
	case errors.Is(err, store.ErrCannot):
		return "NO", "CANNOT", "Operation not allowed on this mailbox"
	case errors.Is(err, store.ErrInvalidName):
		return "NO", "CANNOT", "Invalid mailbox name"
	case errors.Is(err, store.ErrNotSelectable):
		return "NO", "CANNOT", "Mailbox is not selectable"
	case errors.Is(err, store.ErrTooLarge):
		return "NO", "TOOBIG", "Message too large"
	case errors.Is(err, store.ErrTemporary):
		return "NO", "UNAVAILABLE", "Temporary failure, try again later"
	case errors.Is(err, store.ErrNoAccount):
		return "NO", "UNAVAILABLE", "Account unavailable"
	case errors.Is(err, auth.ErrFailed):
		return "NO", "AUTHENTICATIONFAILED", "Authentication failed"
	case errors.Is(err, auth.ErrPlaintextRefused):
		return "NO", "PRIVACYREQUIRED", "Plaintext authentication requires TLS"
	case errors.Is(err, auth.ErrMechanism):
		return "NO", "CANNOT", "Unsupported authentication mechanism"
	case errors.Is(err, auth.ErrCanceled):
		return "BAD", "", "Authentication canceled"
	case errors.Is(err, auth.ErrMalformed):
		return "BAD", "", "Malformed authentication response"
	}
	s.log.Error("command failed", "command", c.name, "err", err)
	return "NO", "SERVERBUG", "Internal server error; the failure was logged"
}
