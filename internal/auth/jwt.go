package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"
)

// maxTokenSize bounds a bearer token; real ones are a few KiB.
const maxTokenSize = 16 << 10

// clockLeeway tolerates clock differences with the token issuer.
const clockLeeway = 60 * time.Second

// jwk is one JSON Web Key (RFC 7517 §4, RFC 7518 §6) as read from the file.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// verifyKey is a usable signature key: RS256 with RSA, ES256 with P-256.
type verifyKey struct {
	kid string
	alg string // "RS256" or "ES256"
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// keySet is the configured JWKS file. It is read again when the file
// changes (checked at most once a minute), so an issuer's key rotation
// needs no restart. Safe for concurrent use.
type keySet struct {
	path string

	mu      sync.Mutex
	keys    []verifyKey
	modTime time.Time
	checked time.Time
}

func loadKeySet(path string) (*keySet, error) {
	ks := &keySet{path: path}
	if err := ks.reload(time.Now()); err != nil {
		return nil, err
	}
	return ks, nil
}

// current returns the keys, re-reading the file when it changed. A file
// that fails to parse keeps the previous keys.
func (ks *keySet) current(now time.Time) []verifyKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if d := now.Sub(ks.checked); d >= time.Minute || d < 0 {
		ks.checked = now
		if fi, err := os.Stat(ks.path); err == nil && !fi.ModTime().Equal(ks.modTime) {
			_ = ks.reloadLocked(now)
		}
	}
	return ks.keys
}

func (ks *keySet) reload(now time.Time) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.reloadLocked(now)
}

func (ks *keySet) reloadLocked(now time.Time) error {
	fi, err := os.Stat(ks.path)
	if err != nil {
		return fmt.Errorf("auth: jwks: %w", err)
	}
	data, err := os.ReadFile(ks.path)
	if err != nil {
		return fmt.Errorf("auth: jwks: %w", err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return fmt.Errorf("auth: jwks %s: %w", ks.path, err)
	}
	ks.keys, ks.modTime, ks.checked = keys, fi.ModTime(), now
	return nil
}

// parseJWKS reads a JWK Set and keeps its RS256 and ES256 signature keys.
// Keys of other kinds are skipped; a set with no usable key is an error.
func parseJWKS(data []byte) ([]verifyKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, err
	}
	var out []verifyKey
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
			n, err1 := b64url(k.N)
			e, err2 := b64url(k.E)
			if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("key %q: bad RSA parameters", k.Kid)
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if pub.N.BitLen() < 2048 || pub.E < 3 {
				return nil, fmt.Errorf("key %q: RSA key too weak", k.Kid)
			}
			out = append(out, verifyKey{kid: k.Kid, alg: "RS256", rsa: pub})
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			x, err1 := b64url(k.X)
			y, err2 := b64url(k.Y)
			if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
				return nil, fmt.Errorf("key %q: bad EC parameters", k.Kid)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k.Kid, err)
			}
			out = append(out, verifyKey{kid: k.Kid, alg: "ES256", ec: pub})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no RS256 or ES256 signature key")
	}
	return out, nil
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// tokenRules are the claims a token must satisfy.
type tokenRules struct {
	issuer, audience, accountClaim string
	now                            time.Time
}

// verifyJWT checks a compact JWS (RFC 7515 §7.1) signed with RS256 or
// ES256 (RFC 7518 §3.3, §3.4) and its claims (RFC 7519 §4.1): iss equal,
// aud containing ours, exp in the future, nbf and iat not in the future.
// It returns the account claim.
func verifyJWT(token string, keys []verifyKey, r tokenRules) (string, error) {
	if len(token) > maxTokenSize {
		return "", errors.New("token too large")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("not a compact JWS")
	}
	hdrJSON, err := b64url(parts[0])
	if err != nil {
		return "", errors.New("bad header encoding")
	}
	var hdr struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return "", errors.New("bad header")
	}
	if hdr.Crit != nil {
		return "", errors.New("critical header extensions not supported")
	}
	if hdr.Alg != "RS256" && hdr.Alg != "ES256" {
		return "", errors.New("algorithm not accepted")
	}
	sig, err := b64url(parts[2])
	if err != nil {
		return "", errors.New("bad signature encoding")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	verified := false
	for _, k := range keys {
		if k.alg != hdr.Alg || (hdr.Kid != "" && k.kid != "" && k.kid != hdr.Kid) {
			continue
		}
		switch k.alg {
		case "RS256":
			verified = rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest[:], sig) == nil
		case "ES256":
			// JWS carries r||s, 32 bytes each (RFC 7518 §3.4).
			if len(sig) == 64 {
				rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				verified = ecdsa.Verify(k.ec, digest[:], rr, ss)
			}
		}
		if verified {
			break
		}
	}
	if !verified {
		return "", errors.New("signature does not verify")
	}
	payload, err := b64url(parts[1])
	if err != nil {
		return "", errors.New("bad payload encoding")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", errors.New("bad claims")
	}
	if iss, _ := claims["iss"].(string); iss != r.issuer {
		return "", errors.New("wrong issuer")
	}
	if !audienceHas(claims["aud"], r.audience) {
		return "", errors.New("wrong audience")
	}
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return "", errors.New("no expiry")
	}
	if !r.now.Before(exp.Add(clockLeeway)) {
		return "", errors.New("token expired")
	}
	if nbf, ok := numericDate(claims["nbf"]); ok && r.now.Add(clockLeeway).Before(nbf) {
		return "", errors.New("token not yet valid")
	}
	if iat, ok := numericDate(claims["iat"]); ok && r.now.Add(clockLeeway).Before(iat) {
		return "", errors.New("token issued in the future")
	}
	name, _ := claims[r.accountClaim].(string)
	if name == "" {
		return "", fmt.Errorf("no %q claim", r.accountClaim)
	}
	return name, nil
}

func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if s, _ := v.(string); s == want {
				return true
			}
		}
	}
	return false
}

// numericDate reads a JSON number of seconds since the epoch.
func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
