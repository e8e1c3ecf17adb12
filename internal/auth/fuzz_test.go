package auth

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"
)

func FuzzImportPasswdLine(f *testing.F) {
	f.Add("alice:{SHA512-CRYPT}" + cryptVectors[2].hash + ":1000:1000::/home/alice::")
	f.Add("bob:$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1")
	f.Add("carol:{SCRAM-SHA-256}4096,c2FsdA==,AAAA,AAAA")
	f.Add("dave:{PLAIN}secret")
	f.Add("eve:{SSHA512}AAAA")
	f.Add("# comment")
	f.Add("x:{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01")
	f.Fuzz(func(t *testing.T, line string) {
		user, secrets, err := ImportPasswdLine(line)
		if err == nil && user != "" && secrets[SecretPassword] == "" {
			t.Fatalf("%q: user %q without a password record", line, user)
		}
		if err == nil && user != "" {
			// Whatever was imported must verify without panicking.
			verifyPassword(secrets, "x")
		}
	})
}

func FuzzVerifyJWT(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.AAAA")
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6ImUxIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	fx := newOAuthFixture(f)
	good := fx.sign(f, "ES256", "e1", map[string]any{"iss": "i", "aud": "a", "exp": 2e9, "email": "x"})
	f.Add(good)
	keys := (&keySet{path: fx.path}).mustKeys(f)
	rules := tokenRules{issuer: "i", audience: "a", accountClaim: "email", now: time.Unix(1.9e9, 0)}
	f.Fuzz(func(t *testing.T, token string) {
		name, err := verifyJWT(token, keys, rules)
		if err == nil && name == "" {
			t.Fatal("accepted without an account")
		}
	})
}

func (ks *keySet) mustKeys(t testing.TB) []verifyKey {
	if err := ks.reload(time.Now()); err != nil {
		t.Fatal(err)
	}
	return ks.keys
}

// FuzzExchanges feeds arbitrary client messages to every mechanism.
func FuzzExchanges(f *testing.F) {
	seeds := [][2]string{
		{"PLAIN", "\x00alice\x00wonderland"},
		{"LOGIN", "alice"},
		{"CRAM-MD5", "alice 0123456789abcdef0123456789abcdef"},
		{"SCRAM-SHA-256", "n,,n=alice,r=abcdef"},
		{"SCRAM-SHA-1", "n,a=bob,n=alice,r=abc"},
		{"OAUTHBEARER", "n,a=alice,\x01auth=Bearer a.b.c\x01\x01"},
		{"XOAUTH2", "user=alice\x01auth=Bearer a.b.c\x01\x01"},
		{"GSSAPI", "`\x82\x02\x00\x06\t*\x86H\x86\xf7\x12\x01\x02\x02\x01\x00n"},
	}
	for _, s := range seeds {
		f.Add(s[0], []byte(s[1]), []byte("c=biws,r=abcdef,p=AAAA"))
	}
	accts := newMemAccounts()
	accts.put("alice", sshaRecord("wonderland"))
	fx := newOAuthFixture(f)
	s, err := Open(accts, Config{
		EnableCRAMMD5: true, PlainSecretKey: bytes.Repeat([]byte{1}, 32),
		JWKSFile: fx.path, OAuthIssuer: "i", OAuthAudience: "a",
	})
	if err != nil {
		f.Fatal(err)
	}
	s.gss = &gssAcceptor{settings: service.NewSettings(keytab.New(), service.DecodePAC(false)), realms: map[string]bool{}}
	s.throttle.sleep = func(context.Context, time.Duration) error { return nil }
	cheapChecks(s)
	c := ConnInfo{Remote: tcpAddr("127.0.0.1:1")}
	f.Fuzz(func(t *testing.T, mech string, first, second []byte) {
		ex, err := s.Start(context.Background(), c, mech)
		if err != nil {
			return
		}
		ctx := context.Background()
		_, done, err := ex.Next(ctx, first)
		if done || err != nil {
			if err == nil && ex.Account() == "" {
				t.Fatalf("%s: done without an account", mech)
			}
			return
		}
		_, done, err = ex.Next(ctx, second)
		if done && err == nil && ex.Account() == "" {
			t.Fatalf("%s: done without an account", mech)
		}
		// Keep the throttle from growing without bound across runs.
		s.throttle.Succeeded(netip.MustParseAddr("127.0.0.1"), "")
	})
}

func FuzzUnwrapToken(f *testing.F) {
	key := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{9}, 32)}
	good, _ := wrapToken(key, 7, []byte{1, 0, 0, 0})
	good[2] = 0 // as if from the initiator; the checksum will not match
	f.Add(good)
	f.Add([]byte{0x05, 0x04, 0x02, 0xff, 0, 12, 0, 28, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = unwrapToken(key, b)
	})
}
