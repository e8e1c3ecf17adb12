package authe2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

const (
	testIssuer   = "https://id.postern.test"
	testAudience = "postern-imap"
)

// tokenIssuer signs ES256 JWTs (RFC 7519, RFC 7518 §3.4) as an OAuth
// authorization server would.
type tokenIssuer struct {
	kid string
	key *ecdsa.PrivateKey
}

func newIssuer(t *testing.T, kid string) *tokenIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &tokenIssuer{kid: kid, key: key}
}

var b64url = base64.RawURLEncoding

// writeJWKS writes the issuer's public key as a JSON Web Key Set (RFC 7517
// §5) and returns its path.
func (is *tokenIssuer) writeJWKS(t *testing.T, dir string) string {
	t.Helper()
	pub, err := is.key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	set := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": is.kid,
		"x": b64url.EncodeToString(raw[1:33]), "y": b64url.EncodeToString(raw[33:65]),
	}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// token returns a signed JWT with the standard claims plus email.
func (is *tokenIssuer) token(t *testing.T, email string, expires time.Time) string {
	t.Helper()
	hdr, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": is.kid})
	claims, _ := json.Marshal(map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "user-1234", "email": email,
		"iat": time.Now().Unix(), "exp": expires.Unix(),
	})
	signing := b64url.EncodeToString(hdr) + "." + b64url.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, is.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + b64url.EncodeToString(sig)
}

// oauthBearerIR is the OAUTHBEARER client response of RFC 7628 §3.1.
func oauthBearerIR(user, token string) []byte {
	return []byte("n,a=" + user + ",\x01host=127.0.0.1\x01port=993\x01auth=Bearer " + token + "\x01\x01")
}

// xoauth2IR is Google's XOAUTH2 client response.
func xoauth2IR(user, token string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

// acknowledgeError answers RFC 7628 §3.2.2's error challenge with %x01.
func acknowledgeError(t *testing.T) saslStep {
	return func(ch []byte) ([]byte, error) {
		var status map[string]string
		if err := json.Unmarshal(ch, &status); err != nil || status["status"] == "" {
			t.Errorf("error challenge %q is not the JSON status of RFC 7628 §3.2.2", ch)
		}
		return []byte{1}, nil
	}
}

func TestOAuthOverIMAP(t *testing.T) {
	t.Parallel()
	issuer := newIssuer(t, "key-1")
	forger := newIssuer(t, "key-1") // same kid, another key
	e := startServer(t, func(dir string, c *config.Config) {
		c.Auth.JWKSFile = issuer.writeJWKS(t, dir)
		c.Auth.OAuthIssuer = testIssuer
		c.Auth.OAuthAudience = testAudience
	})
	e.addAccount("alice", "unused password", false)
	good := issuer.token(t, "alice@postern.test", time.Now().Add(time.Hour))

	t.Run("OAUTHBEARER over IMAPS", func(t *testing.T) {
		c, greeting := mustDial(t, e.addrs["imaps"], "", insecureTLS())
		if !strings.Contains(greeting, "AUTH=OAUTHBEARER") || !strings.Contains(greeting, "AUTH=XOAUTH2") {
			t.Fatalf("OAuth mechanisms not offered: %s", greeting)
		}
		if got := c.authenticate("OAUTHBEARER", oauthBearerIR("alice@postern.test", good), noSteps); !strings.HasPrefix(got, "OK") {
			t.Fatalf("OAUTHBEARER: %s", got)
		}
		if _, tagged := c.imap("SELECT INBOX"); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("SELECT: %s", tagged)
		}
	})

	t.Run("XOAUTH2 over STARTTLS without SASL-IR", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["imap"], "", nil)
		c.starttls(insecureTLS(), false)
		got := c.authenticate("XOAUTH2", nil, func(ch []byte) ([]byte, error) {
			return xoauth2IR("alice", good), nil
		})
		if !strings.HasPrefix(got, "OK") {
			t.Fatalf("XOAUTH2: %s", got)
		}
	})

	t.Run("POP3 OAUTHBEARER", func(t *testing.T) {
		c, _ := mustDial(t, e.addrs["pop3s"], "", insecureTLS())
		if got := c.pop3Auth("OAUTHBEARER", oauthBearerIR("", good), noSteps); !strings.HasPrefix(got, "+OK") {
			t.Fatalf("POP3 AUTH OAUTHBEARER: %s", got)
		}
	})

	for name, token := range map[string]string{
		"forged signature": forger.token(t, "alice@postern.test", time.Now().Add(time.Hour)),
		"expired":          issuer.token(t, "alice@postern.test", time.Now().Add(-time.Hour)),
		"garbage":          "not.a.jwt",
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			c, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
			got := c.authenticate("OAUTHBEARER", oauthBearerIR("alice@postern.test", token), acknowledgeError(t))
			if !strings.HasPrefix(got, "NO") {
				t.Fatalf("%s token: %s", name, got)
			}
		})
	}

	t.Run("token for another account than the one named", func(t *testing.T) {
		e.addAccount("bob", "unused", false)
		c, _ := mustDial(t, e.addrs["imaps"], "", insecureTLS())
		got := c.authenticate("OAUTHBEARER", oauthBearerIR("bob", good), acknowledgeError(t))
		if !strings.HasPrefix(got, "NO") {
			t.Fatalf("alice's token for bob: %s", got)
		}
	})
}
