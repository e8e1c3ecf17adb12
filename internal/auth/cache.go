package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sort"
	"sync"
	"time"
)

// verifiedCache remembers, in memory only, that a password was verified
// against an account's current credential records, so that a client that
// opens many connections (or reconnects every few minutes, as phones do)
// does not pay the deliberately slow argon2id check each time. Dovecot's
// auth_cache serves the same purpose.
//
// An entry holds HMAC-SHA256(password) under a random per-process key,
// tied to a digest of the account's records: a password change, also by
// another process on the same store, changes the records and so misses.
// Failures are never cached, so a wrong password always costs a full
// check (and unknown users and wrong passwords keep the same timing).
// It is safe for concurrent use.
type verifiedCache struct {
	ttl time.Duration
	now func() time.Time
	key [32]byte

	mu      sync.Mutex
	entries map[string]verifiedEntry
}

type verifiedEntry struct {
	records [32]byte // digest of the credential records at verification
	mac     [32]byte // HMAC of the password
	expires time.Time
}

// maxVerified bounds the cache; past it, expired entries are dropped and,
// if still full, the cache is cleared (entries are only a shortcut).
const maxVerified = 100000

func newVerifiedCache(ttl time.Duration, now func() time.Time) *verifiedCache {
	c := &verifiedCache{ttl: ttl, now: now, entries: make(map[string]verifiedEntry)}
	if _, err := rand.Read(c.key[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return c
}

func recordsDigest(secrets map[string]string) [32]byte {
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(secrets[k]))
		h.Write([]byte{0})
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

func (c *verifiedCache) mac(account, password string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(account))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// check reports whether password was verified for account against these
// same records within the TTL.
func (c *verifiedCache) check(account string, secrets map[string]string, password string) bool {
	if c == nil || c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	e, ok := c.entries[account]
	c.mu.Unlock()
	if !ok || c.now().After(e.expires) {
		return false
	}
	records, mac := recordsDigest(secrets), c.mac(account, password)
	return hmac.Equal(records[:], e.records[:]) && hmac.Equal(mac[:], e.mac[:])
}

// add records a successful verification.
func (c *verifiedCache) add(account string, secrets map[string]string, password string) {
	if c == nil || c.ttl <= 0 {
		return
	}
	e := verifiedEntry{records: recordsDigest(secrets), mac: c.mac(account, password), expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerified {
		now := c.now()
		for k, v := range c.entries {
			if now.After(v.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxVerified {
			clear(c.entries)
		}
	}
	c.entries[account] = e
}
