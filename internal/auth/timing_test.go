package auth

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// TestWrongPasswordTimingHidesTheScheme times CheckPassword with a wrong
// password for accounts stored as argon2id, as imported {SSHA512}, as a
// {PLAIN} record and as argon2id with old, cheaper parameters, and for an
// unknown user. Were a cheap record answered sooner, the time of a wrong
// password would tell which names exist. The medians of several
// interleaved samples must agree within a factor of two (the fixes make
// them nearly equal; without them a cheap record answers thousands of
// times sooner).
//
// The throttle's clock is fake (testService), so the failures add no real
// delays, and the test runs alone in the package (no t.Parallel), so it
// has the hashing slots to itself.
func TestWrongPasswordTimingHidesTheScheme(t *testing.T) {
	accts := newMemAccounts()
	accts.put("argon", mustHash(t, "argon-pw"))

	salt := []byte("saltsalt")
	sum := sha512.Sum512(append([]byte("ssha-pw"), salt...))
	user, ssha, err := ImportPasswdLine("ssha:{SSHA512}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...)))
	if err != nil || user != "ssha" {
		t.Fatalf("import {SSHA512}: %q %v", user, err)
	}
	accts.put("ssha", ssha)

	// ImportPasswdLine hashes {PLAIN} at once, but verifyLegacy still
	// reads such a record, so it may be in a store.
	accts.put("plain", map[string]string{SecretPassword: "{PLAIN}plain-pw"})

	enc := base64.RawStdEncoding
	weakKey := argon2.IDKey([]byte("weak-pw"), salt, 1, 8*1024, 1, 32)
	user, weak, err := ImportPasswdLine(fmt.Sprintf("weak:{ARGON2ID}$argon2id$v=19$m=8192,t=1,p=1$%s$%s",
		enc.EncodeToString(salt), enc.EncodeToString(weakKey)))
	if err != nil || user != "weak" {
		t.Fatalf("import {ARGON2ID}: %q %v", user, err)
	}
	accts.put("weak", weak)

	s, _ := testService(t, accts, Config{})
	s.hashes.release = func() {} // no forced collections between samples
	ctx := context.Background()

	// The records are what they should be: the right passwords work (on
	// a copy of the service, so that the upgrades do not change the
	// records timed below).
	check, _ := testService(t, newMemAccounts(), Config{})
	for name, pw := range map[string]string{"argon": "argon-pw", "ssha": "ssha-pw", "plain": "plain-pw", "weak": "weak-pw"} {
		check.accounts = &memAccounts{secrets: map[string]map[string]string{name: accts.get(name)}}
		if _, err := check.CheckPassword(ctx, loopback, name, pw); err != nil {
			t.Fatalf("%s with its password: %v", name, err)
		}
	}

	names := []string{"argon", "ssha", "plain", "weak", "nobody"}
	const samples = 7
	took := make(map[string][]time.Duration)
	for round := -1; round < samples; round++ {
		// Round -1 warms up (the unknown user's dummy hash is made on
		// first use). Each round starts with another name, so that drift
		// in the machine's load does not favour one.
		for i := range names {
			name := names[(i+max(round, 0))%len(names)]
			start := time.Now()
			_, err := s.CheckPassword(ctx, loopback, name, "wrong-pw")
			d := time.Since(start)
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("%s with a wrong password: %v", name, err)
			}
			if round >= 0 {
				took[name] = append(took[name], d)
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var fastest, slowest string
	medians := map[string]time.Duration{}
	for _, name := range names {
		medians[name] = median(took[name])
		if fastest == "" || medians[name] < medians[fastest] {
			fastest = name
		}
		if slowest == "" || medians[name] > medians[slowest] {
			slowest = name
		}
	}
	t.Logf("median time of a wrong password over %d samples: %v", samples, medians)
	if medians[fastest]*2 < medians[slowest] {
		t.Errorf("a wrong password for %s is answered in %v, for %s in %v: the time tells the records apart",
			fastest, medians[fastest], slowest, medians[slowest])
	}
}
