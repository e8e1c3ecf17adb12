package imapserver

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

// TestMapError checks the one error → tagged response mapper.
func TestMapError(t *testing.T) {
	s := &session{log: slog.New(slog.DiscardHandler)}
	cases := []struct {
		cmd, status, code string
		err               error
	}{
		{"SELECT", "NO", "NONEXISTENT", store.ErrNoMailbox},
		{"APPEND", "NO", "TRYCREATE", fmt.Errorf("wrapped: %w", store.ErrNoMailbox)},
		{"UID MOVE", "NO", "TRYCREATE", store.ErrNoMailbox},
		{"COPY", "NO", "TRYCREATE", store.ErrNoMailbox},
		{"CREATE", "NO", "ALREADYEXISTS", store.ErrMailboxExists},
		{"APPEND", "NO", "OVERQUOTA", store.ErrOverQuota},
		{"DELETE", "NO", "HASCHILDREN", store.ErrHasChildren},
		{"DELETE", "NO", "CANNOT", store.ErrCannot},
		{"CREATE", "NO", "CANNOT", store.ErrInvalidName},
		{"APPEND", "NO", "TOOBIG", store.ErrTooLarge},
		{"FETCH", "NO", "UNAVAILABLE", store.ErrTemporary},
		{"LOGIN", "NO", "AUTHENTICATIONFAILED", auth.ErrFailed},
		{"LOGIN", "NO", "PRIVACYREQUIRED", auth.ErrPlaintextRefused},
		{"AUTHENTICATE", "BAD", "", auth.ErrCanceled},
		{"FETCH", "NO", "SERVERBUG", errors.New("disk on fire at /var/lib/x.db")},
		{"STORE", "NO", "READ-ONLY", errNo("READ-ONLY", "x")},
		{"FETCH", "BAD", "", errBad("x")},
	}
	for _, c := range cases {
		status, code, text := s.mapError(&command{name: c.cmd}, c.err)
		if status != c.status || code != c.code {
			t.Errorf("%s %v: got %s [%s], want %s [%s]", c.cmd, c.err, status, code, c.status, c.code)
		}
		if c.code == "SERVERBUG" && text != "Internal server error; the failure was logged" {
			t.Errorf("internal error text leaks: %q", text)
		}
	}
}

func TestStateString(t *testing.T) {
	for st, want := range map[state]string{
		stateNotAuthenticated: "not authenticated", stateAuthenticated: "authenticated",
		stateSelected: "selected", stateLogout: "logout", 0: "unknown",
	} {
		if st.String() != want {
			t.Errorf("%d: %q", st, st.String())
		}
	}
}
