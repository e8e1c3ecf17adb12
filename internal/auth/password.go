package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// SecretPassword is the Secrets key of the argon2id password hash, in PHC
// string format: $argon2id$v=19$m=65536,t=1,p=2$salt$hash.
const SecretPassword = "password"

// argon2id parameters (RFC 9106 second recommended option, lighter memory).
const (
	argonTime    = 1
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

var dummySecrets = map[string]string{SecretPassword: mustHash("postern-dummy-password")}

func mustHash(pw string) string {
	h, err := hashArgon2id(pw)
	if err != nil {
		panic(err)
	}
	return h
}

// HashPassword returns the credential records to store for a new password.
func HashPassword(password string) (map[string]string, error) {
	h, err := hashArgon2id(password)
	if err != nil {
		return nil, err
	}
	return map[string]string{SecretPassword: h}, nil
}

func hashArgon2id(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// verifyPassword checks a password against stored records.
func verifyPassword(secrets map[string]string, password string) bool {
	phc, ok := secrets[SecretPassword]
	if !ok {
		return false
	}
	return verifyArgon2id(phc, password)
}

func verifyArgon2id(phc, password string) bool {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || p == 0 || t == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
