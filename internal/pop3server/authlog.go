package pop3server

import "strings"

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
