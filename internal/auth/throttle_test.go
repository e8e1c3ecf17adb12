package auth

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// sshaRecord is a cheap legacy record, so that a hundred failures do not
// cost a hundred argon2id runs.
func sshaRecord(password string) map[string]string {
	salt := []byte("01234567")
	sum := sha512.Sum512(append([]byte(password), salt...))
	return map[string]string{SecretPassword: "{SSHA512}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))}
}

// cheapChecks replaces the argon2id record an unknown user is checked
// against, which also tops up a failed check against a cheaper record
// (Service.verifyAccount), by an SSHA-512 one: for tests of the throttle,
// which make many failed checks and look at the delays, not at the work.
func cheapChecks(s *Service) {
	s.dummyOnce.Do(func() { s.dummy = sshaRecord("no account's password") })
}

func conn(addr string) ConnInfo {
	return ConnInfo{Remote: tcpAddr(addr + ":40000")}
}

func TestBruteForceIsSlowed(t *testing.T) {
	accts := newMemAccounts()
	accts.put("alice", sshaRecord("wonderland"))
	accts.put("bob", sshaRecord("builder"))
	s, clk := testService(t, accts, Config{TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	cheapChecks(s)
	ctx := context.Background()
	attacker, home, other := conn("10.6.6.6"), conn("10.0.0.5"), conn("10.0.0.9")

	// Alice logged in from home before the attack.
	if _, err := s.CheckPassword(ctx, home, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	accts.put("alice", sshaRecord("wonderland")) // undo the argon2id upgrade: keep it cheap
	clk.slept = nil

	for i := range 100 {
		if _, err := s.CheckPassword(ctx, attacker, "alice", "guess"); !errors.Is(err, ErrFailed) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if len(clk.slept) != 99 {
		t.Fatalf("%d delays for 100 attempts, want 99 (the first is free)", len(clk.slept))
	}
	var total time.Duration
	for i, d := range clk.slept {
		total += d
		if i > 0 && d < clk.slept[i-1] {
			t.Errorf("delay shrank at attempt %d: %v after %v", i+2, d, clk.slept[i-1])
		}
		if i < 8 || i%10 == 0 {
			t.Logf("attempt %3d waited %v", i+2, d)
		}
	}
	t.Logf("100 bad logins took %v of enforced delay (last wait %v)", total, clk.slept[98])
	if clk.slept[0] != 250*time.Millisecond || clk.slept[98] != 16*time.Second || total < 20*time.Minute {
		t.Errorf("delay curve: first %v, last %v, total %v", clk.slept[0], clk.slept[98], total)
	}

	// Spelling the name differently does not escape the account's record.
	if d := s.throttle.Delay(netip.MustParseAddr("10.0.0.9"), "ALICE"); d == 0 {
		t.Error("upper-case name escapes the account delay")
	}
	for i := range 3 {
		_, _ = s.CheckPassword(ctx, conn(fmt.Sprintf("10.7.0.%d", i)), fmt.Sprintf("alice@domain%d.test", i), "guess")
	}
	if n := s.throttle.byAccount["alice"].count; n != 103 {
		t.Errorf("alice's failure count %d, want 103 (domain variants count against the account)", n)
	}
	// The attacker's address is slowed for any name, even a right password.
	if d := s.throttle.Delay(netip.MustParseAddr("10.6.6.6"), "bob"); d != 16*time.Second {
		t.Errorf("attacker delay for another name: %v", d)
	}
	// Another address logging in to another account is not slowed at all.
	if d := s.throttle.Delay(netip.MustParseAddr("10.0.0.9"), "bob"); d != 0 {
		t.Errorf("innocent address delayed %v", d)
	}
	before := len(clk.slept)
	if acct, err := s.CheckPassword(ctx, other, "bob", "builder"); err != nil || acct != "bob" {
		t.Fatalf("bob from another address: %q %v", acct, err)
	}
	if len(clk.slept) != before {
		t.Errorf("bob's login waited %v", clk.slept[before:])
	}
	// Alice's home address skips the per-account delay; a new address
	// does not.
	if d := s.throttle.Delay(netip.MustParseAddr("10.0.0.5"), "alice"); d != 0 {
		t.Errorf("alice's known address delayed %v", d)
	}
	if d := s.throttle.Delay(netip.MustParseAddr("10.0.0.9"), "alice"); d == 0 {
		t.Error("a new address for the attacked account is not delayed")
	}
	if _, err := s.CheckPassword(ctx, home, "alice", "wonderland"); err != nil || len(clk.slept) != before {
		t.Errorf("alice from home: %v, waits %v", err, clk.slept[before:])
	}
	// Failures are forgotten after 15 quiet minutes.
	clk.t = clk.t.Add(16 * time.Minute)
	if d := s.throttle.Delay(netip.MustParseAddr("10.6.6.6"), "bob"); d != 0 {
		t.Errorf("delay after 16 quiet minutes: %v", d)
	}
}

func TestLockout(t *testing.T) {
	accts := newMemAccounts()
	accts.put("alice", sshaRecord("wonderland"))
	s, clk := testService(t, accts, Config{
		TrustedNetworks:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		LockoutThreshold: 5,
		LockoutDuration:  time.Hour,
	})
	cheapChecks(s)
	ctx := context.Background()
	home, attacker, travel := conn("10.0.0.5"), conn("10.6.6.6"), conn("10.0.0.77")
	if _, err := s.CheckPassword(ctx, home, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, _ = s.CheckPassword(ctx, attacker, "alice", "guess")
	}
	// Locked: the right password from a new address fails, with the
	// ordinary answer.
	if _, err := s.CheckPassword(ctx, travel, "alice", "wonderland"); !errors.Is(err, ErrFailed) {
		t.Errorf("locked account from a new address: %v", err)
	}
	// The owner's known address still gets in.
	if _, err := s.CheckPassword(ctx, home, "alice", "wonderland"); err != nil {
		t.Errorf("locked account from home: %v", err)
	}
	for range 5 {
		_, _ = s.CheckPassword(ctx, attacker, "alice", "guess")
	}
	clk.t = clk.t.Add(2 * time.Hour)
	if _, err := s.CheckPassword(ctx, travel, "alice", "wonderland"); err != nil {
		t.Errorf("after the lockout: %v", err)
	}
}

func TestUnknownUserSameAnswer(t *testing.T) {
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	s, _ := testService(t, accts, Config{})
	ctx := context.Background()
	_, errWrong := s.CheckPassword(ctx, loopback, "alice", "nope")
	_, errUnknown := s.CheckPassword(ctx, loopback, "mallory", "nope")
	if errWrong != errUnknown || errWrong != ErrFailed {
		t.Errorf("wrong password: %v; unknown user: %v", errWrong, errUnknown)
	}
}

// The unknown-user path must cost what a wrong password costs; compare
// these two (go test -bench CheckPassword).
func BenchmarkCheckPasswordWrong(b *testing.B)   { benchCheck(b, "alice") }
func BenchmarkCheckPasswordUnknown(b *testing.B) { benchCheck(b, "mallory") }

func benchCheck(b *testing.B, user string) {
	accts := newMemAccounts()
	accts.put("alice", mustHash(b, "wonderland"))
	s, err := Open(accts, Config{})
	if err != nil {
		b.Fatal(err)
	}
	s.throttle.sleep = func(context.Context, time.Duration) error { return nil }
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.CheckPassword(ctx, loopback, user, "nope"); err == nil {
			b.Fatal("accepted")
		}
	}
}
