package auth

import (
	"context"
	"testing"
	"time"
)

func TestVerifiedCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newVerifiedCache(time.Minute, func() time.Time { return now })
	recs := map[string]string{SecretPassword: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA"}
	if c.check("alice", recs, "pw") {
		t.Fatal("hit before any add")
	}
	c.add("alice", recs, "pw")
	if !c.check("alice", recs, "pw") {
		t.Fatal("miss right after add")
	}
	if c.check("alice", recs, "pw2") {
		t.Fatal("a different password hit")
	}
	if c.check("bob", recs, "pw") {
		t.Fatal("another account hit")
	}
	changed := map[string]string{SecretPassword: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$b3RoZXI"}
	if c.check("alice", changed, "pw") {
		t.Fatal("hit after the records changed (password change)")
	}
	now = now.Add(2 * time.Minute)
	if c.check("alice", recs, "pw") {
		t.Fatal("hit after the TTL")
	}
	off := newVerifiedCache(-1, time.Now)
	off.add("alice", recs, "pw")
	if off.check("alice", recs, "pw") {
		t.Fatal("a disabled cache hit")
	}
}

// The service uses the cache only after a full successful check, and a
// wrong password is never answered from it.
func TestCheckPasswordCache(t *testing.T) {
	secrets, err := HashPassword("right")
	if err != nil {
		t.Fatal(err)
	}
	accts := newMemAccounts()
	accts.put("alice", secrets)
	s := New(accts, Config{})
	ctx := context.Background()
	c := loopback
	if _, err := s.CheckPassword(ctx, c, "alice", "right"); err != nil {
		t.Fatal(err)
	}
	if !s.verified.check("alice", secrets, "right") {
		t.Fatal("a successful login was not remembered")
	}
	if _, err := s.CheckPassword(ctx, c, "alice", "wrong"); err != ErrFailed {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.CheckPassword(ctx, c, "alice", "right"); err != nil {
		t.Fatalf("cached login: %v", err)
	}
	// A new password (new records) must not accept the old one.
	newSecrets, _ := HashPassword("new")
	accts.put("alice", newSecrets)
	if _, err := s.CheckPassword(ctx, c, "alice", "right"); err != ErrFailed {
		t.Fatalf("old password after change: %v", err)
	}
}
