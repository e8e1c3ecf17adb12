package auth

import (
	"strings"
	"sync"
)

// Acquire counts one more session for account against
// Config.MaxSessionsPerAccount. ok is false when the cap is reached; the
// session should then be refused (IMAP "NO [LIMIT]", POP3 "-ERR [IN-USE]").
// Otherwise the caller must call release exactly once when the session ends
// (further calls do nothing). Called by the protocol servers after a
// successful login; safe for concurrent use.
func (s *Service) Acquire(account string) (release func(), ok bool) {
	key := strings.ToLower(account)
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if max := s.cfg.MaxSessionsPerAccount; max > 0 && s.sessions[key] >= max {
		return func() {}, false
	}
	s.sessions[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.sessMu.Lock()
			defer s.sessMu.Unlock()
			if s.sessions[key]--; s.sessions[key] <= 0 {
				delete(s.sessions, key)
			}
		})
	}, true
}

// Sessions returns how many sessions account holds now.
func (s *Service) Sessions(account string) int {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	return s.sessions[strings.ToLower(account)]
}
