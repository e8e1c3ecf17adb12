package auth

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

var testPlainKey = bytes.Repeat([]byte{7}, 32)

func TestPlainEquivalentSecrets(t *testing.T) {
	sec, err := PlainEquivalentSecrets("tanstaaf", testPlainKey)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sec[SecretPlainEquivalent], "tanstaaf") {
		t.Fatal("record is not encrypted")
	}
	pw, ok := openPlainEquivalent(sec, testPlainKey)
	if !ok || string(pw) != "tanstaaf" {
		t.Fatalf("open: %q %v", pw, ok)
	}
	if _, ok := openPlainEquivalent(sec, bytes.Repeat([]byte{8}, 32)); ok {
		t.Error("opened with the wrong key")
	}
	if _, err := PlainEquivalentSecrets("x", []byte("short")); err == nil {
		t.Error("short key accepted")
	}
	// HashPasswordWith with a key opts in.
	sec, err = HashPasswordWith("pw", HashOptions{PlainSecretKey: testPlainKey})
	if err != nil || sec[SecretPlainEquivalent] == "" {
		t.Fatalf("HashPasswordWith: %v %v", sec, err)
	}
}

func TestAPOP(t *testing.T) {
	// RFC 1939 §7 example: secret "tanstaaf".
	const ts = "<1896.697170952@dbc.mtview.ca.us>"
	const digest = "c4c9334bac560ecc979e58001b3e22fb"
	accts := newMemAccounts()
	rec := mustHash(t, "tanstaaf")
	plain, _ := PlainEquivalentSecrets("tanstaaf", testPlainKey)
	for k, v := range plain {
		rec[k] = v
	}
	accts.put("mrose", rec)
	accts.put("optout", mustHash(t, "tanstaaf"))
	ctx := context.Background()

	off, _ := testService(t, accts, Config{})
	if off.APOPEnabled() {
		t.Error("APOP enabled by default")
	}
	if _, err := off.CheckAPOP(ctx, untrusted, "mrose", ts, digest); !errors.Is(err, ErrMechanism) {
		t.Errorf("APOP while off: %v", err)
	}

	s, _ := testService(t, accts, Config{EnableAPOP: true, PlainSecretKey: testPlainKey})
	if !s.APOPEnabled() {
		t.Fatal("APOP not enabled")
	}
	if acct, err := s.CheckAPOP(ctx, untrusted, "mrose", ts, digest); err != nil || acct != "mrose" {
		t.Errorf("RFC 1939 example: %q %v", acct, err)
	}
	if acct, err := s.CheckAPOP(ctx, untrusted, "mrose", ts, strings.ToUpper(digest)); err != nil || acct != "mrose" {
		t.Errorf("upper-case digest: %q %v", acct, err)
	}
	for _, tc := range []struct{ user, ts, digest string }{
		{"mrose", "<other@host>", digest},
		{"mrose", ts, "c4c9334bac560ecc979e58001b3e22fc"},
		{"mrose", ts, "zz"},
		{"optout", ts, digest},
		{"nobody", ts, digest},
	} {
		if _, err := s.CheckAPOP(ctx, untrusted, tc.user, tc.ts, tc.digest); !errors.Is(err, ErrFailed) {
			t.Errorf("APOP %v: %v, want ErrFailed", tc, err)
		}
	}
	t1, t2 := s.APOPTimestamp("pop.test"), s.APOPTimestamp("pop.test")
	if t1 == t2 || !strings.HasPrefix(t1, "<") || !strings.HasSuffix(t1, "@pop.test>") {
		t.Errorf("timestamps %q %q", t1, t2)
	}
}

func TestCRAMMD5(t *testing.T) {
	// RFC 2195 §2 example.
	const challenge = "<1896.697170952@postoffice.reston.mci.net>"
	const response = "tim b913a602c7eda7a495b4e6e7334d3890"
	accts := newMemAccounts()
	rec := mustHash(t, "tanstaaftanstaaf")
	plain, _ := PlainEquivalentSecrets("tanstaaftanstaaf", testPlainKey)
	for k, v := range plain {
		rec[k] = v
	}
	accts.put("tim", rec)
	accts.put("tom", mustHash(t, "tanstaaftanstaaf"))
	ctx := context.Background()

	off, _ := testService(t, accts, Config{PlainSecretKey: testPlainKey})
	if slices.Contains(off.Mechanisms(loopback), "CRAM-MD5") {
		t.Error("CRAM-MD5 advertised without EnableCRAMMD5")
	}
	noKey, _ := testService(t, accts, Config{EnableCRAMMD5: true})
	if slices.Contains(noKey.Mechanisms(loopback), "CRAM-MD5") {
		t.Error("CRAM-MD5 advertised without a key")
	}

	s, _ := testService(t, accts, Config{EnableCRAMMD5: true, PlainSecretKey: testPlainKey})
	if !slices.Contains(s.Mechanisms(untrusted), "CRAM-MD5") {
		t.Fatal("CRAM-MD5 not advertised")
	}
	s.challenge = func() string { return challenge }
	ex, err := s.Start(ctx, untrusted, "CRAM-MD5")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := run(ctx, ex, nil, []byte(response))
	if err != nil || ex.Account() != "tim" {
		t.Fatalf("RFC 2195 example: %v %q", err, ex.Account())
	}
	if len(ch) != 1 || string(ch[0]) != challenge {
		t.Errorf("challenge %q", ch)
	}
	for _, bad := range []string{"tim b913a602c7eda7a495b4e6e7334d3891", "tom b913a602c7eda7a495b4e6e7334d3890", "nobody b913a602c7eda7a495b4e6e7334d3890"} {
		ex, _ := s.Start(ctx, untrusted, "CRAM-MD5")
		if _, err := run(ctx, ex, nil, []byte(bad)); !errors.Is(err, ErrFailed) {
			t.Errorf("%q: %v, want ErrFailed", bad, err)
		}
	}
	ex, _ = s.Start(ctx, untrusted, "CRAM-MD5")
	if _, err := run(ctx, ex, nil, []byte("no-space")); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
}
