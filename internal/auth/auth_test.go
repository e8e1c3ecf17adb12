package auth

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

// memAccounts is an in-memory credential source with the lookup rules of
// store.CredentialSource (case-insensitive, "user@domain" falls back to
// "user").
type memAccounts struct {
	mu      sync.Mutex
	secrets map[string]map[string]string
	sets    int
}

func newMemAccounts() *memAccounts {
	return &memAccounts{secrets: make(map[string]map[string]string)}
}

func (m *memAccounts) put(account string, secrets map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets[strings.ToLower(account)] = maps.Clone(secrets)
}

func (m *memAccounts) get(account string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.secrets[strings.ToLower(account)])
}

func (m *memAccounts) Secrets(ctx context.Context, username string) (string, map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := strings.ToLower(username)
	s, ok := m.secrets[name]
	if !ok {
		if at := strings.LastIndexByte(name, '@'); at > 0 {
			name = name[:at]
			s, ok = m.secrets[name]
		}
	}
	if !ok {
		return "", nil, ErrUnknownUser
	}
	return name, maps.Clone(s), nil
}

func (m *memAccounts) SetSecrets(ctx context.Context, account string, secrets map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.secrets[account]; !ok {
		return ErrUnknownUser
	}
	m.secrets[account] = maps.Clone(secrets)
	m.sets++
	return nil
}

// fakeClock is a settable clock for throttle tests; sleeping advances it.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	return nil
}

// testService builds a Service whose throttle never really sleeps.
func testService(t *testing.T, accts Accounts, cfg Config) (*Service, *fakeClock) {
	t.Helper()
	s, err := Open(accts, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	clk := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s.throttle.now = clk.now
	s.throttle.sleep = clk.sleep
	s.now = clk.now
	return s, clk
}

func tcpAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

var (
	loopback  = ConnInfo{Remote: tcpAddr("127.0.0.1:40000"), Local: tcpAddr("127.0.0.1:143")}
	untrusted = ConnInfo{Remote: tcpAddr("192.0.2.7:40000"), Local: tcpAddr("192.0.2.1:143")}
)

// mustHash hashes a password with the default records.
func mustHash(t testing.TB, password string) map[string]string {
	t.Helper()
	s, err := HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run drives an exchange: responses are sent in order after the first
// Next(initial). It returns the final error and every challenge seen.
func run(ctx context.Context, ex Exchange, initial []byte, responses ...[]byte) ([][]byte, error) {
	var challenges [][]byte
	resp := initial
	for i := 0; ; i++ {
		ch, done, err := ex.Next(ctx, resp)
		if ch != nil {
			challenges = append(challenges, ch)
		}
		if done || err != nil {
			return challenges, err
		}
		if i >= len(responses) {
			return challenges, errors.New("test: server wants more responses")
		}
		resp = responses[i]
	}
}

func TestPlainAndLogin(t *testing.T) {
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	accts.put("bob", mustHash(t, "builder"))
	accts.put("admin", mustHash(t, "root-pw"))
	s, _ := testService(t, accts, Config{MasterUsers: []string{"admin"}})
	ctx := context.Background()

	cases := []struct {
		name    string
		msg     string
		account string
		err     error
	}{
		{"plain", "\x00alice\x00wonderland", "alice", nil},
		{"self authzid", "alice\x00alice\x00wonderland", "alice", nil},
		{"domain login", "\x00alice@example.org\x00wonderland", "alice", nil},
		{"wrong password", "\x00alice\x00rabbit", "", ErrFailed},
		{"unknown user", "\x00carol\x00wonderland", "", ErrFailed},
		{"authzid other", "bob\x00alice\x00wonderland", "", ErrFailed},
		{"master", "bob\x00admin\x00root-pw", "bob", nil},
		{"master bad target", "nobody\x00admin\x00root-pw", "", ErrFailed},
		{"malformed", "alice\x00wonderland", "", ErrMalformed},
	}
	for _, tc := range cases {
		ex, err := s.Start(ctx, loopback, "plain")
		if err != nil {
			t.Fatal(err)
		}
		_, err = run(ctx, ex, []byte(tc.msg))
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
		}
		if err == nil && ex.Account() != tc.account {
			t.Errorf("%s: account %q, want %q", tc.name, ex.Account(), tc.account)
		}
	}

	// PLAIN without an initial response: empty challenge first.
	ex, _ := s.Start(ctx, loopback, "PLAIN")
	ch, err := run(ctx, ex, nil, []byte("\x00bob\x00builder"))
	if err != nil || ex.Account() != "bob" || len(ch) != 1 || len(ch[0]) != 0 {
		t.Errorf("PLAIN without IR: %v %q %q", err, ex.Account(), ch)
	}

	// LOGIN, with and without an initial response.
	ex, _ = s.Start(ctx, loopback, "LOGIN")
	ch, err = run(ctx, ex, nil, []byte("bob"), []byte("builder"))
	if err != nil || ex.Account() != "bob" {
		t.Fatalf("LOGIN: %v", err)
	}
	if want := [][]byte{[]byte("Username:"), []byte("Password:")}; !slices.EqualFunc(ch, want, bytes.Equal) {
		t.Errorf("LOGIN challenges %q", ch)
	}
	ex, _ = s.Start(ctx, loopback, "LOGIN")
	if _, err = run(ctx, ex, []byte("alice"), []byte("nope")); !errors.Is(err, ErrFailed) {
		t.Errorf("LOGIN wrong password: %v", err)
	}
}

// TestAuthenticatedAs checks that an exchange names the master user behind
// a login as another account (PLAIN's authzid, SCRAM's "a="), and nobody
// for an ordinary login or one naming itself.
func TestAuthenticatedAs(t *testing.T) {
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	accts.put("admin", mustHash(t, "root-pw"))
	s, _ := testService(t, accts, Config{MasterUsers: []string{"admin"}})
	ctx := context.Background()
	for _, tc := range []struct{ msg, account, authn string }{
		{"alice\x00admin\x00root-pw", "alice", "admin"},
		{"ALICE\x00Admin\x00root-pw", "alice", "admin"},
		{"\x00admin\x00root-pw", "admin", ""},
		{"admin\x00admin\x00root-pw", "admin", ""},
		{"\x00alice\x00wonderland", "alice", ""},
	} {
		ex, _ := s.Start(ctx, loopback, "PLAIN")
		if _, err := run(ctx, ex, []byte(tc.msg)); err != nil {
			t.Fatalf("PLAIN %q: %v", tc.msg, err)
		}
		if ex.Account() != tc.account || AuthenticatedAs(ex) != tc.authn {
			t.Errorf("PLAIN %q: account %q authenticated as %q, want %q and %q", tc.msg, ex.Account(), AuthenticatedAs(ex), tc.account, tc.authn)
		}
	}
	ex, _ := s.Start(ctx, loopback, "PLAIN")
	if _, err := run(ctx, ex, []byte("alice\x00admin\x00wrong")); err == nil || AuthenticatedAs(ex) != "" {
		t.Errorf("failed master login: %v, authenticated as %q", err, AuthenticatedAs(ex))
	}

	// SCRAM's "a=" attribute.
	cl, err := scram.SHA256.NewClient("admin", "root-pw", "alice")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	ex, _ = s.Start(ctx, loopback, "SCRAM-SHA-256")
	first, _ := conv.Step("")
	ch, _, err := ex.Next(ctx, []byte(first))
	if err != nil {
		t.Fatal(err)
	}
	final, err := conv.Step(string(ch))
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := ex.Next(ctx, []byte(final)); err != nil || !done {
		t.Fatalf("SCRAM with a=alice: done %v, %v", done, err)
	}
	if ex.Account() != "alice" || AuthenticatedAs(ex) != "admin" {
		t.Errorf("SCRAM a=alice: account %q authenticated as %q", ex.Account(), AuthenticatedAs(ex))
	}
}

func TestPlaintextRefusedWithoutTLS(t *testing.T) {
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "wonderland"))
	s, _ := testService(t, accts, Config{})
	ctx := context.Background()
	if _, err := s.CheckPassword(ctx, untrusted, "alice", "wonderland"); !errors.Is(err, ErrPlaintextRefused) {
		t.Errorf("CheckPassword on untrusted cleartext: %v", err)
	}
	for _, m := range []string{"PLAIN", "LOGIN"} {
		if _, err := s.Start(ctx, untrusted, m); !errors.Is(err, ErrPlaintextRefused) {
			t.Errorf("Start(%s) on untrusted cleartext: %v", m, err)
		}
	}
	if a, err := s.CheckPassword(ctx, loopback, "alice", "wonderland"); err != nil || a != "alice" {
		t.Errorf("CheckPassword from loopback: %q %v", a, err)
	}
}

func TestAcquire(t *testing.T) {
	s, _ := testService(t, newMemAccounts(), Config{MaxSessionsPerAccount: 2})
	r1, ok1 := s.Acquire("alice")
	r2, ok2 := s.Acquire("ALICE")
	_, ok3 := s.Acquire("alice")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("acquire: %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if _, ok := s.Acquire("bob"); !ok {
		t.Error("bob refused because of alice")
	}
	r1()
	r1() // a second release does nothing
	if n := s.Sessions("alice"); n != 1 {
		t.Errorf("sessions after release: %d, want 1", n)
	}
	r4, ok4 := s.Acquire("alice")
	if !ok4 {
		t.Error("acquire after release refused")
	}
	r2()
	r4()
	if n := s.Sessions("alice"); n != 0 {
		t.Errorf("sessions after all released: %d", n)
	}

	unlimited, _ := testService(t, newMemAccounts(), Config{})
	for i := range 100 {
		if _, ok := unlimited.Acquire("alice"); !ok {
			t.Fatalf("unlimited refused at %d", i)
		}
	}
}
