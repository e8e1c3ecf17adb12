package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ImportPasswdLine reads one line of a Dovecot passwd-file
// ("user:{SCHEME}hash:uid:gid:gecos:home:shell:extra") and returns the login
// name and the credential records to store. Called by the CLI's
// "postern user import-passwd FILE", once per line.
//
// Blank lines and "#" comments return an empty user and no error: skip
// them. Hashes are kept as they are, with their scheme, and CheckPassword
// verifies them and replaces them by argon2id at the account's next
// successful login. Supported schemes: {CRYPT} (MD5-, SHA-256-, SHA-512-
// and bcrypt crypt strings; a password field without a scheme is {CRYPT}),
// {MD5-CRYPT}, {SHA256-CRYPT}, {SHA512-CRYPT}, {BLF-CRYPT}, {ARGON2ID},
// {SSHA512}, {SSHA256}, {SSHA}, {SHA512}, {SHA256}, {SHA1}/{SHA},
// {SCRAM-SHA-1}, {SCRAM-SHA-256} (which also enable SCRAM at once), and
// {PLAIN}/{CLEAR}/{CLEARTEXT} (hashed here; the password is not kept).
// Traditional DES crypt is refused: it keeps only 8 characters.
func ImportPasswdLine(line string) (user string, secrets map[string]string, err error) {
	line = strings.TrimRight(line, "\r\n")
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return "", nil, nil
	}
	fields := strings.Split(line, ":")
	user = strings.TrimSpace(fields[0])
	if user == "" {
		return "", nil, errors.New("passwd line: empty user name")
	}
	if len(fields) < 2 || fields[1] == "" {
		return "", nil, fmt.Errorf("passwd line for %q: no password", user)
	}
	stored, err := normalizeLegacy(fields[1])
	if err != nil {
		return "", nil, fmt.Errorf("passwd line for %q: %w", user, err)
	}
	scheme, data := splitScheme(stored)
	switch scheme {
	case "PLAIN":
		secrets, err = HashPassword(data)
		if err != nil {
			return "", nil, err
		}
		return user, secrets, nil
	case "SCRAM-SHA-1", "SCRAM-SHA-256":
		key, size := SecretSCRAMSHA1, sha1.Size
		if scheme == "SCRAM-SHA-256" {
			key, size = SecretSCRAMSHA256, sha256.Size
		}
		if _, err := parseSCRAMKeys(data, size); err != nil {
			return "", nil, fmt.Errorf("passwd line for %q: %w", user, err)
		}
		return user, map[string]string{SecretPassword: stored, key: data}, nil
	}
	return user, map[string]string{SecretPassword: stored}, nil
}

// splitScheme splits "{SCHEME}data"; a string without a scheme is returned
// with an empty one.
func splitScheme(s string) (scheme, data string) {
	if strings.HasPrefix(s, "{") {
		if end := strings.IndexByte(s, '}'); end > 0 {
			return strings.ToUpper(s[1:end]), s[end+1:]
		}
	}
	return "", s
}

// normalizeLegacy checks an imported password field and gives it its
// canonical scheme name, so that verifyLegacy has fewer cases.
func normalizeLegacy(field string) (string, error) {
	scheme, data := splitScheme(field)
	if scheme == "" {
		scheme = "CRYPT"
	}
	switch scheme {
	case "CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "BLF-CRYPT":
		switch {
		case strings.HasPrefix(data, "$1$"), strings.HasPrefix(data, "$5$"), strings.HasPrefix(data, "$6$"):
		case strings.HasPrefix(data, "$2a$"), strings.HasPrefix(data, "$2b$"), strings.HasPrefix(data, "$2y$"):
			if _, err := bcrypt.Cost([]byte(data)); err != nil {
				return "", fmt.Errorf("bad bcrypt hash: %w", err)
			}
		case len(data) == 13:
			return "", errors.New("DES crypt is not supported (it ignores all but 8 characters); reset the password")
		default:
			return "", errors.New("unrecognized crypt string")
		}
		return "{CRYPT}" + data, nil
	case "ARGON2ID":
		if !strings.HasPrefix(data, "$argon2id$") {
			return "", errors.New("bad ARGON2ID hash")
		}
		return data, nil
	case "SSHA512", "SSHA256", "SSHA", "SHA512", "SHA256", "SHA1", "SHA":
		if scheme == "SHA" {
			scheme = "SHA1"
		}
		if _, err := decodeDigestField(data); err != nil {
			return "", err
		}
		return "{" + scheme + "}" + data, nil
	case "SCRAM-SHA-1", "SCRAM-SHA-256":
		return "{" + scheme + "}" + data, nil
	case "PLAIN", "CLEAR", "CLEARTEXT":
		return "{PLAIN}" + data, nil
	}
	return "", fmt.Errorf("unsupported password scheme {%s}", scheme)
}

// decodeDigestField reads a digest in base64, or in hex when it looks so
// (Dovecot's ".HEX" encodings).
func decodeDigestField(data string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(data); err == nil {
		return b, nil
	}
	if b, err := hex.DecodeString(data); err == nil {
		return b, nil
	}
	return nil, errors.New("digest is neither base64 nor hex")
}

// verifyLegacy checks a password against an imported record.
func verifyLegacy(stored, password string) bool {
	scheme, data := splitScheme(stored)
	switch scheme {
	case "CRYPT":
		return verifyCrypt(data, password)
	case "SSHA512", "SSHA256", "SSHA", "SHA512", "SHA256", "SHA1":
		return verifyDigest(scheme, data, password)
	case "SCRAM-SHA-1", "SCRAM-SHA-256":
		hf, size := sha1.New, sha1.Size
		if scheme == "SCRAM-SHA-256" {
			hf, size = sha256.New, sha256.Size
		}
		k, err := parseSCRAMKeys(data, size)
		if err != nil || k.iters > 1_000_000 {
			return false
		}
		got, err := newSCRAMKeys(hf, password, k.salt, k.iters)
		return err == nil && subtle.ConstantTimeCompare(got.storedKey, k.storedKey) == 1
	case "PLAIN":
		return subtle.ConstantTimeCompare([]byte(data), []byte(password)) == 1
	}
	return false
}

// verifyDigest checks {SHA…} (H(password)) and salted {SSHA…}
// (H(password+salt) followed by the salt) records.
func verifyDigest(scheme, data, password string) bool {
	raw, err := decodeDigestField(data)
	if err != nil {
		return false
	}
	hf := map[string]func() hash.Hash{
		"SSHA512": sha512.New, "SHA512": sha512.New,
		"SSHA256": sha256.New, "SHA256": sha256.New,
		"SSHA": sha1.New, "SHA1": sha1.New,
	}[scheme]
	if hf == nil {
		return false
	}
	salted := strings.HasPrefix(scheme, "SSHA")
	size := hf().Size()
	if len(raw) < size || (!salted && len(raw) != size) {
		return false
	}
	digest, salt := raw[:size], raw[size:]
	h := hf()
	h.Write([]byte(password))
	h.Write(salt)
	return subtle.ConstantTimeCompare(h.Sum(nil), digest) == 1
}

// verifyBcrypt checks a bcrypt string ($2a$, $2b$, $2y$).
func verifyBcrypt(stored, password string) bool {
	if cost, err := bcrypt.Cost([]byte(stored)); err != nil || cost > 16 {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(stored), []byte(password)) == nil
}
