package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// TestMechanismsAdvertised is the table of what is offered where.
func TestMechanismsAdvertised(t *testing.T) {
	f := newOAuthFixture(t)
	srv, _, leaf := tlsPair(t, tls.VersionTLS13)
	tlsConn := ConnInfo{Remote: untrusted.Remote, TLS: &srv, ServerCertificate: leaf}
	full := Config{EnableCRAMMD5: true, PlainSecretKey: testPlainKey, JWKSFile: f.path, OAuthIssuer: "i", OAuthAudience: "a"}
	cases := []struct {
		name string
		cfg  Config
		conn ConnInfo
		want []string
	}{
		{"defaults, untrusted cleartext", Config{}, untrusted, []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}},
		{"defaults, loopback", Config{}, loopback, []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"}},
		{"defaults, TLS", Config{}, tlsConn, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"}},
		{"all, untrusted cleartext", full, untrusted, []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"}},
		{"all, TLS", full, tlsConn, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "OAUTHBEARER", "XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN"}},
		{"CRAM-MD5 without key", Config{EnableCRAMMD5: true}, loopback, []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"}},
	}
	for _, tc := range cases {
		s, _ := testService(t, newMemAccounts(), tc.cfg)
		got := s.Mechanisms(tc.conn)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		for _, m := range got {
			if _, err := s.Start(context.Background(), tc.conn, strings.ToLower(m)); err != nil {
				t.Errorf("%s: Start(%s): %v", tc.name, m, err)
			}
		}
	}
}

// TestLogsCarryNoSecrets runs failing and succeeding logins of every kind
// and checks the log for passwords, hashes and tokens.
func TestLogsCarryNoSecrets(t *testing.T) {
	var logBuf bytes.Buffer
	f := newOAuthFixture(t)
	accts := newMemAccounts()
	rec, _ := HashPasswordWith("Secret-Pw-1", HashOptions{PlainSecretKey: testPlainKey})
	accts.put("alice", rec)
	s, clk := testService(t, accts, Config{
		EnableCRAMMD5: true, EnableAPOP: true, PlainSecretKey: testPlainKey,
		JWKSFile: f.path, OAuthIssuer: "i", OAuthAudience: "a",
		Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx := context.Background()
	token := f.sign(t, "RS256", "r1", map[string]any{"iss": "i", "aud": "a", "exp": clk.now().Unix() - 3600, "email": "alice"})

	_, _ = s.CheckPassword(ctx, loopback, "alice", "Wrong-Pw-2")
	_, _ = s.CheckPassword(ctx, loopback, "alice", "Secret-Pw-1")
	_, _ = s.CheckPassword(ctx, loopback, "nobody", "Wrong-Pw-3")
	_, _ = s.CheckAPOP(ctx, loopback, "alice", "<1@x>", "00000000000000000000000000000000")
	for _, x := range []struct{ mech, msg string }{
		{"PLAIN", "bob\x00alice\x00Secret-Pw-1"},
		{"OAUTHBEARER", "n,,\x01auth=Bearer " + token + "\x01\x01"},
		{"XOAUTH2", "user=alice\x01auth=Bearer " + token + "\x01\x01"},
	} {
		ex, _ := s.Start(ctx, loopback, x.mech)
		_, _ = run(ctx, ex, []byte(x.msg), []byte("\x01"))
	}
	_, _ = scramClient(ctx, s, loopback, "SCRAM-SHA-256", "alice", "Wrong-Pw-4", nil)

	out := logBuf.String()
	if !strings.Contains(out, "login failed") {
		t.Fatalf("nothing logged: %q", out)
	}
	sec := accts.get("alice")
	forbidden := []string{"Secret-Pw-1", "Wrong-Pw-2", "Wrong-Pw-3", "Wrong-Pw-4", token, strings.Split(token, ".")[2]}
	for _, v := range sec {
		forbidden = append(forbidden, v)
	}
	for _, v := range rec {
		forbidden = append(forbidden, v)
	}
	for _, bad := range forbidden {
		if strings.Contains(out, bad) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(bad))) {
			t.Errorf("log carries a secret (%.12s…)", bad)
		}
	}
}
