package pop3server

// apopUsable says whether the greeting carries an APOP timestamp: only when
// the auth service offers APOP (a plaintext-equivalent secret key is
// configured and APOP enabled; RFC 1939 §7).
func (s *Server) apopUsable() bool {
	return s.opts.Auth != nil && s.opts.Auth.APOPEnabled()
}

// cmdApop checks "APOP name digest", the digest being MD5 of the greeting's
// timestamp and the shared secret in hex (RFC 1939 §7).
func (s *session) cmdApop(arg string) error {
	if s.timestamp == "" {
		s.reply("-ERR [AUTH] APOP not available")
		return nil
	}
	f := fields(arg)
	if len(f) != 2 {
		s.reply("-ERR Syntax: APOP name digest")
		return nil
	}
	account, err := s.srv.opts.Auth.CheckAPOP(s.ctx, s.connInfo(), f[0], s.timestamp, f[1])
	s.logLogin("APOP", f[0], err)
	if err != nil {
		return s.authFailed(err)
	}
	return s.login(account)
}
