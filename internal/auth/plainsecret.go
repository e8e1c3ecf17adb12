package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SecretPlainEquivalent is the Secrets key of the encrypted password that
// CRAM-MD5 and APOP need.
const SecretPlainEquivalent = "plain-aes-gcm"

// plainAAD binds the ciphertext to its purpose, so a record cannot be
// replayed into another encrypted field.
const plainAAD = "postern plain-equivalent v1"

// PlainEquivalentSecrets returns the record that opts an account in to
// CRAM-MD5 (RFC 2195) and APOP (RFC 1939 §7): the password itself,
// encrypted with AES-256-GCM under key (32 bytes, from the server
// configuration). Merge it into the account's other records.
//
// Why this is weaker than the default records: CRAM-MD5 and APOP prove
// knowledge of the password by keyed MD5 over a server challenge, so the
// server must hold the password itself (or an equivalent of it), not a
// one-way hash. Anyone who obtains both the store and the configured key
// gets every opted-in password in the clear, with no dictionary attack
// needed, whereas argon2id hashes and SCRAM keys must still be cracked.
// Both mechanisms also let an eavesdropper on a cleartext connection
// attack the password offline from one exchange. Enable them only for
// accounts whose clients cannot use SCRAM or TLS.
func PlainEquivalentSecrets(password string, key []byte) (map[string]string, error) {
	aead, err := plainAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := randomBytes(aead.NonceSize())
	sealed := aead.Seal(nonce, nonce, []byte(password), []byte(plainAAD))
	return map[string]string{SecretPlainEquivalent: base64.StdEncoding.EncodeToString(sealed)}, nil
}

func plainAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("auth: plain secret key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// openPlainEquivalent decrypts an account's plaintext-equivalent secret;
// ok is false when the account did not opt in or the record is damaged.
func openPlainEquivalent(secrets map[string]string, key []byte) (password []byte, ok bool) {
	rec, found := secrets[SecretPlainEquivalent]
	if !found {
		return nil, false
	}
	sealed, err := base64.StdEncoding.DecodeString(rec)
	if err != nil {
		return nil, false
	}
	aead, err := plainAEAD(key)
	if err != nil || len(sealed) < aead.NonceSize() {
		return nil, false
	}
	pw, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(plainAAD))
	if err != nil {
		return nil, false
	}
	return pw, true
}

// newChallenge makes a unique msg-id style string for CRAM-MD5 and APOP
// (RFC 1939 §7: "<process-ID.clock@hostname>").
func (s *Service) newChallenge(host string) string {
	if s.challenge != nil {
		return s.challenge()
	}
	if host == "" {
		host = "postern"
	}
	return fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(randomBytes(8)), s.now().Unix(), host)
}

// APOPTimestamp returns a fresh timestamp for a POP3 greeting (RFC 1939
// §4), to be passed back to CheckAPOP. host is the server's name.
func (s *Service) APOPTimestamp(host string) string { return s.newChallenge(host) }

// CheckAPOP verifies a POP3 APOP command (RFC 1939 §7): digestHex is the
// hex MD5 of timestamp followed by the shared secret. It returns the
// account, or ErrFailed for a wrong digest, an unknown user or an account
// without a plaintext-equivalent secret (the same answer for all three);
// ErrMechanism when APOP is off. Slowed like CheckPassword. Called by the
// POP3 server; safe for concurrent use.
func (s *Service) CheckAPOP(ctx context.Context, c ConnInfo, user, timestamp, digestHex string) (string, error) {
	if !s.APOPEnabled() {
		return "", ErrMechanism
	}
	want, err := hex.DecodeString(strings.ToLower(digestHex))
	if err != nil || len(want) != md5.Size {
		s.failed(c, user, "malformed APOP digest")
		return "", ErrFailed
	}
	return s.checkPlainEquivalent(ctx, c, user, "APOP", func(pw []byte) bool {
		sum := md5.Sum(append([]byte(timestamp), pw...))
		return subtle.ConstantTimeCompare(sum[:], want) == 1
	})
}

// checkPlainEquivalent runs a check that needs the account's password in
// the clear, with throttling and the same failure for every reason.
func (s *Service) checkPlainEquivalent(ctx context.Context, c ConnInfo, user, mech string, match func(pw []byte) bool) (string, error) {
	g, err := s.gate(ctx, c, user)
	if err != nil {
		return "", err
	}
	secrets := g.secrets
	if _, has := secrets[SecretPlainEquivalent]; !has {
		// Decrypt a stand-in so that a missing user or record costs the
		// same as a present one.
		secrets = s.dummyPlain
	}
	pw, opted := openPlainEquivalent(secrets, s.cfg.PlainSecretKey)
	ok := match(pw) && opted && g.account != "" && !isDummy(secrets, s.dummyPlain)
	clear(pw)
	if !ok || g.locked {
		s.failed(c, g.key, mech+" failed")
		return "", ErrFailed
	}
	s.succeeded(c.RemoteAddr(), g.key)
	return g.account, nil
}

// isDummy reports whether secrets is the stand-in record.
func isDummy(secrets, dummy map[string]string) bool {
	return dummy != nil && secrets[SecretPlainEquivalent] == dummy[SecretPlainEquivalent]
}

// cramExchange is CRAM-MD5 (RFC 2195): the server sends a msg-id challenge,
// the client answers "user SP hex(HMAC-MD5(password, challenge))".
type cramExchange struct {
	s         *Service
	c         ConnInfo
	challenge string
	account   string
}

func (e *cramExchange) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	if e.challenge == "" {
		if len(resp) > 0 {
			// RFC 2195 has no initial response.
			return nil, true, ErrMalformed
		}
		e.challenge = e.s.newChallenge("")
		return []byte(e.challenge), false, nil
	}
	sp := strings.LastIndexByte(string(resp), ' ')
	if sp <= 0 {
		return nil, true, ErrMalformed
	}
	user, digestHex := string(resp[:sp]), string(resp[sp+1:])
	want, err := hex.DecodeString(strings.ToLower(digestHex))
	if err != nil || len(want) != md5.Size {
		return nil, true, ErrMalformed
	}
	account, err := e.s.checkPlainEquivalent(ctx, e.c, user, "CRAM-MD5", func(pw []byte) bool {
		m := hmac.New(md5.New, pw)
		m.Write([]byte(e.challenge))
		return hmac.Equal(m.Sum(nil), want)
	})
	if err != nil {
		return nil, true, err
	}
	e.account = account
	return nil, true, nil
}

func (e *cramExchange) Account() string { return e.account }
