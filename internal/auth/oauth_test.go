package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// oauthFixture is an issuer with an RSA and an EC key, its JWKS on disk.
type oauthFixture struct {
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
	path   string
}

func newOAuthFixture(t testing.TB) *oauthFixture {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &oauthFixture{rsaKey: rk, ecKey: ek, path: filepath.Join(t.TempDir(), "jwks.json")}
	f.writeJWKS(t, rk, ek)
	return f
}

func (f *oauthFixture) writeJWKS(t testing.TB, rk *rsa.PrivateKey, ek *ecdsa.PrivateKey) {
	t.Helper()
	enc := base64.RawURLEncoding
	pt, _ := ek.PublicKey.Bytes() // 0x04 || X || Y
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": enc.EncodeToString(rk.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": enc.EncodeToString(pt[1:33]), "y": enc.EncodeToString(pt[33:])},
		{"kty": "oct", "kid": "ignored", "k": "c2VjcmV0"},
	}}
	b, _ := json.Marshal(set)
	if err := os.WriteFile(f.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sign makes a compact JWS; alg "RS256", "ES256", "none" or "HS256"
// (the last keyed with the RSA public modulus, the classic confusion).
func (f *oauthFixture) sign(t testing.TB, alg, kid string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	body, _ := json.Marshal(claims)
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case "RS256":
		s, err := rsa.SignPKCS1v15(rand.Reader, f.rsaKey, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = s
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, f.ecKey, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case "HS256":
		m := hmac.New(sha256.New, f.rsaKey.N.Bytes())
		m.Write([]byte(input))
		sig = m.Sum(nil)
	}
	return input + "." + enc.EncodeToString(sig)
}

func TestOAuth(t *testing.T) {
	f := newOAuthFixture(t)
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	accts.put("bob", mustHash(t, "builder"))
	cfg := Config{JWKSFile: f.path, OAuthIssuer: "https://id.test", OAuthAudience: "postern"}
	s, clk := testService(t, accts, cfg)
	ctx := context.Background()
	now := clk.now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "https://id.test", "aud": []string{"other", "postern"}, "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "email": "alice@example.org"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	oauthbearer := func(user, token string) []byte {
		a := ""
		if user != "" {
			a = "a=" + user
		}
		return []byte("n," + a + ",\x01host=mail.test\x01port=993\x01auth=Bearer " + token + "\x01\x01")
	}
	xoauth2 := func(user, token string) []byte {
		return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
	}

	for _, m := range []string{"OAUTHBEARER", "XOAUTH2"} {
		if !slices.Contains(s.Mechanisms(loopback), m) {
			t.Errorf("%s not advertised", m)
		}
		if slices.Contains(s.Mechanisms(untrusted), m) {
			t.Errorf("%s advertised on untrusted cleartext", m)
		}
	}
	plain, _ := testService(t, accts, Config{})
	if slices.Contains(plain.Mechanisms(loopback), "OAUTHBEARER") {
		t.Error("OAUTHBEARER advertised without a JWKS")
	}

	good := []struct {
		name string
		mech string
		msg  []byte
	}{
		{"RS256", "OAUTHBEARER", oauthbearer("alice@example.org", f.sign(t, "RS256", "r1", claims(nil)))},
		{"ES256", "OAUTHBEARER", oauthbearer("", f.sign(t, "ES256", "e1", claims(nil)))},
		{"no kid", "OAUTHBEARER", oauthbearer("alice", f.sign(t, "ES256", "", claims(nil)))},
		{"aud string", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { c["aud"] = "postern" })))},
		{"xoauth2", "XOAUTH2", xoauth2("alice@example.org", f.sign(t, "RS256", "r1", claims(nil)))},
	}
	for _, g := range good {
		ex, err := s.Start(ctx, loopback, g.mech)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run(ctx, ex, g.msg); err != nil || ex.Account() != "alice" {
			t.Errorf("%s: %v %q", g.name, err, ex.Account())
		}
	}

	bad := []struct {
		name string
		mech string
		msg  []byte
	}{
		{"expired", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })))},
		{"no exp", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { delete(c, "exp") })))},
		{"not yet", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })))},
		{"issuer", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { c["iss"] = "https://evil.test" })))},
		{"audience", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { c["aud"] = "someone-else" })))},
		{"no claim", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { delete(c, "email") })))},
		{"unknown account", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "r1", claims(func(c map[string]any) { c["email"] = "carol@example.org" })))},
		{"other user", "OAUTHBEARER", oauthbearer("bob", f.sign(t, "RS256", "r1", claims(nil)))},
		{"alg none", "OAUTHBEARER", oauthbearer("", f.sign(t, "none", "r1", claims(nil)))},
		{"alg HS256", "OAUTHBEARER", oauthbearer("", f.sign(t, "HS256", "r1", claims(nil)))},
		{"wrong kid", "OAUTHBEARER", oauthbearer("", f.sign(t, "RS256", "e1", claims(nil)))},
		{"tampered", "OAUTHBEARER", oauthbearer("", tamper(f.sign(t, "RS256", "r1", claims(nil))))},
		{"xoauth2 other user", "XOAUTH2", xoauth2("bob", f.sign(t, "RS256", "r1", claims(nil)))},
	}
	other := newOAuthFixture(t)
	bad = append(bad, struct {
		name string
		mech string
		msg  []byte
	}{"foreign key", "OAUTHBEARER", oauthbearer("", other.sign(t, "RS256", "r1", claims(nil)))})
	for _, b := range bad {
		ex, _ := s.Start(ctx, loopback, b.mech)
		ch, done, err := ex.Next(ctx, b.msg)
		if err != nil || done {
			t.Errorf("%s: want an error challenge, got done=%v err=%v", b.name, done, err)
			continue
		}
		var e map[string]string
		if json.Unmarshal(ch, &e) != nil || e["status"] == "" {
			t.Errorf("%s: challenge %q", b.name, ch)
		}
		ack := []byte("\x01")
		if b.mech == "XOAUTH2" {
			ack = []byte{}
		}
		if _, _, err := ex.Next(ctx, ack); !errors.Is(err, ErrFailed) {
			t.Errorf("%s: final %v", b.name, err)
		}
	}
	for _, m := range [][]byte{[]byte("p=tls-exporter,,\x01auth=Bearer x\x01\x01"), []byte("n,,\x01auth=Basic x\x01\x01"), []byte("n,,auth=Bearer x")} {
		ex, _ := s.Start(ctx, loopback, "OAUTHBEARER")
		if _, err := run(ctx, ex, m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", m, err)
		}
	}

	// Key rotation: a new JWKS is picked up without a restart.
	rotated := newOAuthFixture(t)
	f.writeJWKS(t, rotated.rsaKey, rotated.ecKey)
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(f.path, future, future)
	clk.t = clk.t.Add(2 * time.Minute)
	now = clk.now()
	ex, _ := s.Start(ctx, loopback, "OAUTHBEARER")
	if _, err := run(ctx, ex, oauthbearer("", rotated.sign(t, "RS256", "r1", claims(nil)))); err != nil {
		t.Errorf("after rotation: %v", err)
	}
}

func tamper(tok string) string {
	p := strings.Split(tok, ".")
	body, _ := base64.RawURLEncoding.DecodeString(p[1])
	body = []byte(strings.Replace(string(body), "alice", "bobby", 1))
	p[1] = base64.RawURLEncoding.EncodeToString(body)
	return strings.Join(p, ".")
}

func TestOpenReportsBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"keys":[{"kty":"oct","k":"x"}]}`), 0o600)
	for _, cfg := range []Config{
		{JWKSFile: filepath.Join(dir, "missing.json"), OAuthIssuer: "i", OAuthAudience: "a"},
		{JWKSFile: bad, OAuthIssuer: "i", OAuthAudience: "a"},
		{PlainSecretKey: []byte("short")},
		{ClientCertIdentity: "serial"},
		{KeytabFile: filepath.Join(dir, "missing.keytab")},
	} {
		s, err := Open(newMemAccounts(), cfg)
		if err == nil {
			t.Errorf("Open(%+v): no error", cfg)
		}
		if s == nil || len(s.Mechanisms(loopback)) == 0 {
			t.Errorf("Open(%+v): no usable service", cfg)
		}
	}
}
