package pop3server

import (
	"strings"

	"github.com/postern/postern/internal/auth"
)

// logLogin records a login attempt (USER/PASS, APOP, AUTH). The session's
// logger already carries the session id and remote address; this adds the
// login name and the mechanism, never a password, digest or token. user is
// the authenticated account for SASL, whose exchanges name no one before
// they succeed (package auth logs the name a failure was counted against).
func (s *session) logLogin(mechanism, user string, err error) {
	mechanism = strings.ToUpper(mechanism)
	if err != nil {
		s.log.Info("pop3 login failed", "mechanism", mechanism, "user", sanitize(user), "reason", err.Error())
		return
	}
	s.log.Info("pop3 login", "mechanism", mechanism, "user", sanitize(user))
}

// logSASLLogin is logLogin for a successful AUTH exchange. When a master
// user logged in as another account, "authn" names the master (whose
// credentials were checked) beside "user" (the account now in use).
func (s *session) logSASLLogin(mechanism string, ex auth.Exchange) {
	if authn := auth.AuthenticatedAs(ex); authn != "" {
		s.log.Info("pop3 login", "mechanism", strings.ToUpper(mechanism), "user", sanitize(ex.Account()), "authn", sanitize(authn))
		return
	}
	s.logLogin(mechanism, ex.Account(), nil)
}
