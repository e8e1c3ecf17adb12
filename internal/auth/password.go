package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/xdg-go/stringprep"
	"golang.org/x/crypto/argon2"
)

// Keys of the credential records (Accounts.Secrets). None holds a password
// in the clear; SecretPlainEquivalent holds one encrypted.
const (
	// SecretPassword is the password hash: argon2id in PHC string format
	// ($argon2id$v=19$m=65536,t=1,p=2$salt$hash), or an imported legacy
	// hash with its Dovecot scheme prefix ({SHA512-CRYPT}$6$…), which
	// CheckPassword replaces at the next successful login.
	SecretPassword = "password"
	// SecretSCRAMSHA1 and SecretSCRAMSHA256 are SCRAM verifiers (RFC 5802
	// §3): "iterations,salt,StoredKey,ServerKey" with base64 fields, the
	// layout Dovecot uses. They let a server check a SCRAM proof without
	// knowing the password, and do not let a thief log in with them
	// directly (they still allow an offline dictionary attack).
	SecretSCRAMSHA1   = "scram-sha-1"
	SecretSCRAMSHA256 = "scram-sha-256"
)

// argon2id parameters (RFC 9106 §4 second recommended option, with less
// memory so that a small server can check a few logins at once).
const (
	argonTime    = 1
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// DefaultSCRAMIterations is the PBKDF2 count for new SCRAM keys (RFC 7677
// §4 asks for at least 4096).
const DefaultSCRAMIterations = 4096

// HashOptions tunes HashPasswordWith.
type HashOptions struct {
	// SCRAMIterations for the SCRAM keys; 0 means DefaultSCRAMIterations.
	SCRAMIterations int
	// PlainSecretKey, when set (32 bytes), also stores the password
	// encrypted for CRAM-MD5 and APOP (see PlainEquivalentSecrets): the
	// per-account opt-in.
	PlainSecretKey []byte
}

// HashPassword returns the credential records to store for a new password:
// an argon2id hash and SCRAM-SHA-1 and SCRAM-SHA-256 keys. Called by the CLI
// (user add, passwd) and by CheckPassword's hash upgrade.
func HashPassword(password string) (map[string]string, error) {
	return HashPasswordWith(password, HashOptions{})
}

// HashPasswordWith is HashPassword with options.
func HashPasswordWith(password string, opts HashOptions) (map[string]string, error) {
	h, err := hashArgon2id(password)
	if err != nil {
		return nil, err
	}
	iters := opts.SCRAMIterations
	if iters <= 0 {
		iters = DefaultSCRAMIterations
	}
	out := map[string]string{SecretPassword: h}
	for key, hf := range map[string]func() hash.Hash{SecretSCRAMSHA1: sha1.New, SecretSCRAMSHA256: sha256.New} {
		salt := randomBytes(16)
		k, err := newSCRAMKeys(hf, password, salt, iters)
		if err != nil {
			return nil, err
		}
		out[key] = k.String()
	}
	if opts.PlainSecretKey != nil {
		plain, err := PlainEquivalentSecrets(password, opts.PlainSecretKey)
		if err != nil {
			return nil, err
		}
		for k, v := range plain {
			out[k] = v
		}
	}
	return out, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

func hashArgon2id(password string) (string, error) {
	salt := randomBytes(16)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// verifyPassword checks a password against stored records. upgrade reports
// that the check succeeded with a record that should be rewritten: a
// legacy scheme, weaker argon2id parameters, or missing SCRAM keys.
func verifyPassword(secrets map[string]string, password string) (ok, upgrade bool) {
	stored, found := secrets[SecretPassword]
	if !found {
		return false, false
	}
	if strings.HasPrefix(stored, "$argon2id$") {
		ok, weak := verifyArgon2id(stored, password)
		if !ok {
			return false, false
		}
		_, has1 := secrets[SecretSCRAMSHA1]
		_, has256 := secrets[SecretSCRAMSHA256]
		return true, weak || !has1 || !has256
	}
	if !verifyLegacy(stored, password) {
		return false, false
	}
	return true, true
}

// argon2idRecord is a parsed PHC argon2id string.
type argon2idRecord struct {
	m, t       uint32
	p          uint8
	salt, hash []byte
}

// parseArgon2id reads a PHC argon2id string. It refuses parameters that
// would let a crafted record exhaust memory.
func parseArgon2id(phc string) (argon2idRecord, bool) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return argon2idRecord{}, false
	}
	var r argon2idRecord
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &r.m, &r.t, &r.p); err != nil || r.p == 0 || r.t == 0 || r.m < 8*uint32(r.p) {
		return argon2idRecord{}, false
	}
	if r.m > 4*1024*1024 || r.t > 64 {
		return argon2idRecord{}, false
	}
	enc := base64.RawStdEncoding
	var err error
	if r.salt, err = enc.DecodeString(parts[4]); err != nil {
		return argon2idRecord{}, false
	}
	if r.hash, err = enc.DecodeString(parts[5]); err != nil || len(r.hash) < 16 || len(r.hash) > 128 {
		return argon2idRecord{}, false
	}
	return r, true
}

// verifyArgon2id checks a PHC argon2id string; weak reports parameters below
// the current ones.
func verifyArgon2id(phc, password string) (ok, weak bool) {
	r, valid := parseArgon2id(phc)
	if !valid {
		return false, false
	}
	got := argon2.IDKey([]byte(password), r.salt, r.t, r.m, r.p, uint32(len(r.hash)))
	if subtle.ConstantTimeCompare(got, r.hash) != 1 {
		return false, false
	}
	return true, r.m < argonMemory || r.t < argonTime
}

// costsFullArgon2id reports whether checking a password against these
// records computes argon2id at no less than the current cost (memory and
// passes, and no more lanes to run in parallel): the work of the check an
// unknown user gets (Service.dummySecrets). Imported legacy hashes, weaker
// argon2id parameters and records without a password hash cost less.
func costsFullArgon2id(secrets map[string]string) bool {
	stored := secrets[SecretPassword]
	if !strings.HasPrefix(stored, "$argon2id$") {
		return false
	}
	r, ok := parseArgon2id(stored)
	return ok && r.m >= argonMemory && r.t >= argonTime && r.p <= argonThreads
}

// scramKeys is one account's SCRAM verifier for one hash (RFC 5802 §3).
type scramKeys struct {
	iters     int
	salt      []byte
	storedKey []byte
	serverKey []byte
}

// saslPrep normalizes a password as SCRAM clients do (RFC 5802 §5.1 asks
// for SASLprep, RFC 4013); a password SASLprep refuses is used as is.
func saslPrep(password string) string {
	if p, err := stringprep.SASLprep.Prepare(password); err == nil {
		return p
	}
	return password
}

// newSCRAMKeys derives the verifier: SaltedPassword = Hi(password, salt, i),
// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
// HMAC(SaltedPassword, "Server Key") (RFC 5802 §3).
func newSCRAMKeys(hf func() hash.Hash, password string, salt []byte, iters int) (scramKeys, error) {
	salted, err := pbkdf2.Key(hf, saslPrep(password), salt, iters, hf().Size())
	if err != nil {
		return scramKeys{}, err
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(hf, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	h := hf()
	h.Write(mac(salted, "Client Key"))
	return scramKeys{iters: iters, salt: salt, storedKey: h.Sum(nil), serverKey: mac(salted, "Server Key")}, nil
}

func (k scramKeys) String() string {
	enc := base64.StdEncoding
	return strconv.Itoa(k.iters) + "," + enc.EncodeToString(k.salt) + "," +
		enc.EncodeToString(k.storedKey) + "," + enc.EncodeToString(k.serverKey)
}

// parseSCRAMKeys reads a SecretSCRAM… record for a hash of size n.
func parseSCRAMKeys(s string, n int) (scramKeys, error) {
	f := strings.Split(s, ",")
	if len(f) != 4 {
		return scramKeys{}, errors.New("scram record: want 4 fields")
	}
	iters, err := strconv.Atoi(f[0])
	if err != nil || iters < 1 || iters > 10_000_000 {
		return scramKeys{}, errors.New("scram record: bad iteration count")
	}
	enc := base64.StdEncoding
	k := scramKeys{iters: iters}
	if k.salt, err = enc.DecodeString(f[1]); err != nil || len(k.salt) == 0 {
		return scramKeys{}, errors.New("scram record: bad salt")
	}
	if k.storedKey, err = enc.DecodeString(f[2]); err != nil || len(k.storedKey) != n {
		return scramKeys{}, errors.New("scram record: bad StoredKey")
	}
	if k.serverKey, err = enc.DecodeString(f[3]); err != nil || len(k.serverKey) != n {
		return scramKeys{}, errors.New("scram record: bad ServerKey")
	}
	return k, nil
}
