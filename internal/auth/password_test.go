package auth

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Vectors made with "openssl passwd -1/-5/-6 -salt …" (OpenSSL 3), plus
// the SHA-512 example of Drepper's SHA-crypt specification.
var cryptVectors = []struct{ password, hash string }{
	{"Hello world!", "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1"},
	{"Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"a much longer password that exceeds sixty-four bytes in total length, surely!", "$1$abcdefgh$NszT6sYqKpb1l/KKdSkY./"},
	{"a much longer password that exceeds sixty-four bytes in total length, surely!", "$5$abcdefgh$GODtWuFHUl2I6OwMbLHRgkHKtLIm3hiqjgP40wAYSw0"},
	{"a much longer password that exceeds sixty-four bytes in total length, surely!", "$6$abcdefgh$e5LLRk4EEQDVE7As/MHO5Si8yZhSKbVdFFQwz6KRvHpYW8p3SNn.MRYXKaWA3lgJioHZTrA/Rq5EeOxFKQPlN1"},
	{"", "$1$xy$JSgu5Zv4igzK2ULm5nTM30"},
	{"pw", "$5$rounds=1500$salt$VXmyK9kE/NOk0Px0J.wEOuCop6KOAQXPXBMT5QatV4C"},
}

func TestCryptVectors(t *testing.T) {
	for _, v := range cryptVectors {
		if !verifyCrypt(v.hash, v.password) {
			t.Errorf("verifyCrypt(%s) failed", v.hash)
		}
		if verifyCrypt(v.hash, v.password+"x") {
			t.Errorf("verifyCrypt(%s) accepted a wrong password", v.hash)
		}
	}
}

func TestImportPasswdLine(t *testing.T) {
	blf, err := bcrypt.GenerateFromPassword([]byte("blowfish"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	blfY := "$2y$" + string(blf[4:])
	salt := []byte("saltsalt")
	ssha := func(h func() []byte) string { return base64.StdEncoding.EncodeToString(append(h(), salt...)) }
	ssha512 := ssha(func() []byte { s := sha512.Sum512(append([]byte("ssha-pw"), salt...)); return s[:] })
	ssha256 := ssha(func() []byte { s := sha256.Sum256(append([]byte("ssha-pw"), salt...)); return s[:] })
	sha1sum := sha1.Sum([]byte("sha-pw"))
	argon, _ := hashArgon2id("argon-pw")
	scramK, _ := newSCRAMKeys(sha256.New, "scram-pw", []byte("0123456789abcdef"), 4096)

	lines := []struct {
		line, user, password string
	}{
		{"md5:" + "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1" + ":1000:1000::/home/md5::", "md5", "Hello world!"},
		{"c512:{CRYPT}" + cryptVectors[2].hash + "::::::", "c512", "Hello world!"},
		{"s512:{SHA512-CRYPT}" + cryptVectors[3].hash, "s512", "Hello world!"},
		{"s256@example.org:{SHA256-CRYPT}" + cryptVectors[1].hash + ":::", "s256@example.org", "Hello world!"},
		{"blf:{BLF-CRYPT}" + blfY, "blf", "blowfish"},
		{"argon:{ARGON2ID}" + argon, "argon", "argon-pw"},
		{"ssha512:{SSHA512}" + ssha512, "ssha512", "ssha-pw"},
		{"ssha256:{SSHA256}" + ssha256, "ssha256", "ssha-pw"},
		{"sha:{SHA}" + base64.StdEncoding.EncodeToString(sha1sum[:]), "sha", "sha-pw"},
		{"plain:{PLAIN}clear text:1:1", "plain", "clear text"},
		{"scram:{SCRAM-SHA-256}" + scramK.String(), "scram", "scram-pw"},
	}
	accts := newMemAccounts()
	for _, l := range lines {
		user, secrets, err := ImportPasswdLine(l.line + "\n")
		if err != nil {
			t.Errorf("import %q: %v", l.line, err)
			continue
		}
		if user != l.user {
			t.Errorf("import %q: user %q", l.line, user)
		}
		if strings.Contains(strings.Join(mapValues(secrets), " "), "clear text") {
			t.Errorf("import %q kept the cleartext password", l.line)
		}
		accts.put(strings.Split(user, "@")[0], secrets)
	}
	for _, bad := range []string{"des:abcdefghijklm", "x:{MD4}abc", "nopw", "y::1:1", ":{PLAIN}x", "z:{CRYPT}$9$x"} {
		if _, _, err := ImportPasswdLine(bad); err == nil {
			t.Errorf("import %q: no error", bad)
		}
	}
	for _, skip := range []string{"", "   ", "# comment"} {
		if u, s, err := ImportPasswdLine(skip); u != "" || s != nil || err != nil {
			t.Errorf("import %q: %q %v %v, want a skip", skip, u, s, err)
		}
	}

	// Every imported account logs in, and its hash is upgraded once.
	s, _ := testService(t, accts, Config{})
	ctx := context.Background()
	for _, l := range lines {
		name := strings.Split(l.user, "@")[0]
		if _, err := s.CheckPassword(ctx, loopback, l.user, l.password+"!"); err == nil {
			t.Errorf("%s: wrong password accepted", l.user)
		}
		acct, err := s.CheckPassword(ctx, loopback, l.user, l.password)
		if err != nil {
			t.Errorf("%s: %v", l.user, err)
			continue
		}
		if acct != name {
			t.Errorf("%s: account %q", l.user, acct)
		}
		sec := accts.get(name)
		if !strings.HasPrefix(sec[SecretPassword], "$argon2id$v=19$m=65536,t=1,p=2$") || sec[SecretSCRAMSHA256] == "" || sec[SecretSCRAMSHA1] == "" {
			t.Errorf("%s: not upgraded: %v", l.user, sec)
		}
		// The upgraded records still take the password.
		if _, err := s.CheckPassword(ctx, loopback, l.user, l.password); err != nil {
			t.Errorf("%s after upgrade: %v", l.user, err)
		}
	}
	// {PLAIN} is hashed at import, so it needs no upgrade.
	if accts.sets != len(lines)-1 {
		t.Errorf("SetSecrets called %d times, want %d (one upgrade per legacy account)", accts.sets, len(lines)-1)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestHashPassword(t *testing.T) {
	sec := mustHash(t, "pässword")
	for _, k := range []string{SecretPassword, SecretSCRAMSHA1, SecretSCRAMSHA256} {
		if sec[k] == "" {
			t.Errorf("HashPassword: no %s record", k)
		}
		if strings.Contains(sec[k], "pässword") {
			t.Errorf("record %s holds the password", k)
		}
	}
	if ok, upgrade := verifyPassword(sec, "pässword"); !ok || upgrade {
		t.Errorf("verify fresh hash: ok=%v upgrade=%v", ok, upgrade)
	}
	if ok, _ := verifyPassword(sec, "password"); ok {
		t.Error("wrong password accepted")
	}
	if _, err := parseSCRAMKeys(sec[SecretSCRAMSHA256], sha256.Size); err != nil {
		t.Error(err)
	}
	// Records made by the first version (argon2id only) get SCRAM keys.
	if ok, upgrade := verifyPassword(map[string]string{SecretPassword: sec[SecretPassword]}, "pässword"); !ok || !upgrade {
		t.Errorf("argon2id-only record: ok=%v upgrade=%v, want an upgrade", ok, upgrade)
	}
	for _, bad := range []string{"$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=1,t=1,p=0$AAAA$AAAA", "$argon2id$"} {
		if ok, _ := verifyPassword(map[string]string{SecretPassword: bad}, "x"); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}
