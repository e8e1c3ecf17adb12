package imapserver

import (
	"strings"

	"github.com/postern/postern/internal/auth"
)

// logLogin records a login attempt (LOGIN, AUTHENTICATE). The session's
// logger already carries the session id and remote address; this adds the
// login name and the mechanism, never a password, hash or token. user is
// the authenticated account for SASL, whose exchanges name no one before
// they succeed (package auth logs the name a failure was counted against).
func (s *session) logLogin(mechanism, user string, err error) {
	mechanism = strings.ToUpper(mechanism)
	if err != nil {
		s.log.Info("login failed", "mechanism", mechanism, "user", user, "reason", err.Error())
		return
	}
	s.log.Info("login", "mechanism", mechanism, "user", user)
}

// logSASLLogin is logLogin for a successful SASL exchange. When a master
// user logged in as another account, "authn" names the master (whose
// credentials were checked) beside "user" (the account now in use).
func (s *session) logSASLLogin(mechanism string, ex auth.Exchange) {
	if authn := auth.AuthenticatedAs(ex); authn != "" {
		s.log.Info("login", "mechanism", strings.ToUpper(mechanism), "user", ex.Account(), "authn", authn)
		return
	}
	s.logLogin(mechanism, ex.Account(), nil)
}
