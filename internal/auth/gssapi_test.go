package auth

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// kdc is a running MIT KDC made by testdata/krb5-setup.sh.
type kdc struct {
	dir, conf, keytab string
}

// startKDC creates the realm POSTERN.TEST on a free loopback port and
// starts krb5kdc, or skips the test when MIT Kerberos is not installed
// (fails under CI, see missingTool).
func startKDC(t *testing.T) *kdc {
	t.Helper()
	for _, tool := range []string{"krb5kdc", "kdb5_util", "kadmin.local"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				missingTool(t, "%s not installed (apt-get install krb5-kdc krb5-admin-server krb5-user); the GSSAPI test needs a real KDC", tool)
			}
		}
	}
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command("sh", "testdata/krb5-setup.sh", dir, fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() {
		if pid, err := os.ReadFile(filepath.Join(dir, "kdc.pid")); err == nil {
			_ = exec.Command("kill", strings.TrimSpace(string(pid))).Run()
		}
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "setup.log"))
		t.Fatalf("krb5-setup.sh: %v\n%s\n%s", err, out, log)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	return &kdc{dir: dir, conf: filepath.Join(dir, "krb5.conf"), keytab: filepath.Join(dir, "imap.keytab")}
}

// missingTool skips a test that needs an outside tool which is not
// installed here. Under CI (the environment variable CI is set, as .ci/run
// does) it fails instead: .ci/run installs these tools, so their absence
// there is a broken setup, not a reason to pass without testing.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, and .ci/run installs it)", fmt.Sprintf(format, args...))
	}
	t.Skipf(format, args...)
}

// freePort finds a port free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// krbClient logs a principal in with gokrb5 and gets a ticket for the
// service.
func (k *kdc) krbClient(t *testing.T, user, password string) (*client.Client, messages.Ticket, types.EncryptionKey) {
	t.Helper()
	cfg, err := config.Load(k.conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword(user, "POSTERN.TEST", password, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("kinit %s: %v", user, err)
	}
	t.Cleanup(cl.Destroy)
	tkt, key, err := cl.GetServiceTicket("imap/localhost")
	if err != nil {
		t.Fatalf("service ticket: %v", err)
	}
	return cl, tkt, key
}

// apReq makes a GSS initial context token asking for mutual
// authentication; it also returns the authenticator's time.
func apReq(t *testing.T, cl *client.Client, tkt messages.Ticket, key types.EncryptionKey) ([]byte, types.Authenticator) {
	t.Helper()
	tok, err := spnego.NewKRB5TokenAPREQ(cl, tkt, key, []int{gssapi.ContextFlagMutual, gssapi.ContextFlagInteg}, []int{flags.APOptionMutualRequired})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := krbcrypto.DecryptEncPart(tok.APReq.EncryptedAuthenticator, key, keyusage.AP_REQ_AUTHENTICATOR)
	if err != nil {
		t.Fatal(err)
	}
	var auth types.Authenticator
	if err := auth.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	return b, auth
}

// gssLogin runs the whole RFC 4752 exchange with gokrb5 as the client,
// checking the server's AP-REP and its wrap token.
func gssLogin(t *testing.T, s *Service, k *kdc, user, password string, layer byte, authzid string) (string, error) {
	t.Helper()
	ctx := context.Background()
	cl, tkt, key := k.krbClient(t, user, password)
	token, auth := apReq(t, cl, tkt, key)
	ex, err := s.Start(ctx, loopback, "GSSAPI")
	if err != nil {
		return "", err
	}
	rep, done, err := ex.Next(ctx, token)
	if err != nil || done {
		return "", fmt.Errorf("AP-REQ step: done=%v %w", done, err)
	}
	// Mutual authentication: the AP-REP echoes our authenticator time,
	// encrypted in the session key only the service could get.
	var rt spnego.KRB5Token
	if err := rt.Unmarshal(rep); err != nil || !rt.IsAPRep() {
		t.Fatalf("server reply is not an AP-REP token: %v", err)
	}
	plain, err := krbcrypto.DecryptEncPart(rt.APRep.EncPart, key, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("AP-REP does not decrypt with the session key: %v", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatalf("EncAPRepPart: %v", err)
	}
	if !part.CTime.Equal(auth.CTime.Truncate(time.Second)) || part.Cusec != auth.Cusec {
		t.Fatalf("AP-REP time %v.%d, authenticator %v.%d", part.CTime, part.Cusec, auth.CTime, auth.Cusec)
	}
	offer, done, err := ex.Next(ctx, []byte{})
	if err != nil || done {
		return "", fmt.Errorf("empty step: done=%v %w", done, err)
	}
	var wt gssapi.WrapToken
	if err := wt.Unmarshal(offer, true); err != nil {
		t.Fatalf("layer offer: %v", err)
	}
	if ok, err := wt.Verify(key, keyusage.GSSAPI_ACCEPTOR_SEAL); !ok {
		t.Fatalf("layer offer checksum: %v", err)
	}
	if wt.SndSeqNum != uint64(part.SequenceNumber) {
		t.Errorf("wrap token sequence %d, AP-REP said %d", wt.SndSeqNum, part.SequenceNumber)
	}
	if len(wt.Payload) != 4 || wt.Payload[0]&1 == 0 {
		t.Fatalf("layer offer %x", wt.Payload)
	}
	reply, err := gssapi.NewInitiatorWrapToken(append([]byte{layer, 0, 0, 0}, authzid...), key)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := reply.Marshal()
	if _, done, err = ex.Next(ctx, rb); err != nil {
		return "", err
	}
	if !done {
		t.Fatal("exchange not done after the layer choice")
	}
	return ex.Account(), nil
}

func TestGSSAPI(t *testing.T) {
	k := startKDC(t)
	accts := newMemAccounts()
	accts.put("alice", mustHash(t, "not-the-kerberos-password"))
	accts.put("bob", mustHash(t, "builder"))
	s, _ := testService(t, accts, Config{KeytabFile: k.keytab})
	ctx := context.Background()

	if !slices.Contains(s.Mechanisms(untrusted), "GSSAPI") {
		t.Fatalf("GSSAPI not advertised with a keytab: %v", s.Mechanisms(untrusted))
	}
	noKT, _ := testService(t, accts, Config{})
	if slices.Contains(noKT.Mechanisms(loopback), "GSSAPI") {
		t.Error("GSSAPI advertised without a keytab")
	}

	if acct, err := gssLogin(t, s, k, "alice", "alice-pw", 1, ""); err != nil || acct != "alice" {
		t.Fatalf("alice: %q %v", acct, err)
	}
	if acct, err := gssLogin(t, s, k, "alice", "alice-pw", 1, "alice"); err != nil || acct != "alice" {
		t.Errorf("alice with authzid: %q %v", acct, err)
	}
	if _, err := gssLogin(t, s, k, "alice", "alice-pw", 1, "bob"); !errors.Is(err, ErrFailed) {
		t.Errorf("alice acting as bob: %v", err)
	}
	if _, err := gssLogin(t, s, k, "alice", "alice-pw", 4, ""); !errors.Is(err, ErrFailed) {
		t.Errorf("unoffered security layer: %v", err)
	}
	// A principal with an instance is not an account.
	if _, err := gssLogin(t, s, k, "bob/admin", "bob-pw", 1, ""); !errors.Is(err, ErrFailed) {
		t.Errorf("bob/admin: %v", err)
	}
	// A realm not accepted.
	other, _ := testService(t, accts, Config{KeytabFile: k.keytab, KerberosRealms: []string{"ELSEWHERE.TEST"}})
	if _, err := gssLogin(t, other, k, "alice", "alice-pw", 1, ""); !errors.Is(err, ErrFailed) {
		t.Errorf("foreign realm: %v", err)
	}

	// A replayed AP-REQ and a damaged one are refused.
	cl, tkt, key := k.krbClient(t, "alice", "alice-pw")
	token, _ := apReq(t, cl, tkt, key)
	ex, _ := s.Start(ctx, loopback, "GSSAPI")
	if _, _, err := ex.Next(ctx, token); err != nil {
		t.Fatalf("first use: %v", err)
	}
	ex, _ = s.Start(ctx, loopback, "GSSAPI")
	if _, _, err := ex.Next(ctx, token); err == nil {
		t.Error("replayed AP-REQ accepted")
	}
	token, _ = apReq(t, cl, tkt, key)
	token[len(token)-5] ^= 0x40
	ex, _ = s.Start(ctx, loopback, "GSSAPI")
	if _, _, err := ex.Next(ctx, token); err == nil {
		t.Error("damaged AP-REQ accepted")
	}
	ex, _ = s.Start(ctx, loopback, "GSSAPI")
	if _, _, err := ex.Next(ctx, []byte("not a token")); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}

	t.Run("MIT client", func(t *testing.T) { testGSSAPIWithMIT(t, s, k, false) })
	t.Run("MIT client sealed", func(t *testing.T) { testGSSAPIWithMIT(t, s, k, true) })
}

// testGSSAPIWithMIT runs Debian's python3-gssapi (MIT libgssapi_krb5) as
// the client: kinit, then the SASL exchange through a pipe.
func testGSSAPIWithMIT(t *testing.T, s *Service, k *kdc, seal bool) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		missingTool(t, "python3-gssapi not installed for /usr/bin/python3 (apt-get install python3-gssapi)")
	}
	env := append(os.Environ(), "KRB5_CONFIG="+k.conf, "KRB5CCNAME=FILE:"+filepath.Join(k.dir, "mit-ccache"))
	kinit := exec.Command("kinit", "alice")
	kinit.Env = env
	kinit.Stdin = strings.NewReader("alice-pw\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"testdata/gssapi_client.py", "imap@localhost"}
	if seal {
		args = append(args, "--seal")
	}
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Env = env
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	ex, err := s.Start(ctx, untrusted, "GSSAPI")
	if err != nil {
		t.Fatal(err)
	}
	var acctErr error
	for step := 0; step < 5; step++ {
		if !lines.Scan() {
			acctErr = fmt.Errorf("client stopped: %s", stderr.String())
			break
		}
		resp, err := base64.StdEncoding.DecodeString(lines.Text())
		if err != nil {
			t.Fatal(err)
		}
		ch, done, err := ex.Next(ctx, resp)
		if err != nil {
			acctErr = err
			break
		}
		if done {
			break
		}
		fmt.Fprintln(stdin, base64.StdEncoding.EncodeToString(ch))
	}
	stdin.Close()
	werr := cmd.Wait()
	if acctErr != nil || werr != nil {
		t.Fatalf("MIT client: server %v, client %v: %s", acctErr, werr, stderr.String())
	}
	if ex.Account() != "alice" {
		t.Errorf("account %q", ex.Account())
	}
	if !strings.Contains(stderr.String(), "mutual=True") {
		t.Errorf("MIT client did not get mutual authentication: %s", stderr.String())
	}
}
