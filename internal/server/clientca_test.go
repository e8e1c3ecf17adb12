package server

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store/sqlite"
)

// TestClientCA: tls.client_ca makes every listener ask for a client
// certificate and verify it; a file without certificates stops New.
// (internal/e2e/authe2e logs in with certificates over the wire.)
func TestClientCA(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), dir, sqlite.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = config.Listen{IMAP: "127.0.0.1:0"}

	// Any PEM certificate will do as a CA here: the server's own.
	if _, err := EnsureSelfSigned(dir, "ca.test"); err != nil {
		t.Fatal(err)
	}
	cert, _ := SelfSignedPaths(dir)
	cfg.TLS.ClientCA = cert
	srv, err := New(Options{Config: cfg, Store: st, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if srv.tlsCfg.ClientAuth != tls.VerifyClientCertIfGiven || srv.tlsCfg.ClientCAs == nil {
		t.Fatalf("client_ca set: ClientAuth %v, pool %v", srv.tlsCfg.ClientAuth, srv.tlsCfg.ClientCAs != nil)
	}

	bad := filepath.Join(dir, "not-a-ca.pem")
	if err := os.WriteFile(bad, []byte("not PEM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.TLS.ClientCA = bad
	if _, err := New(Options{Config: cfg, Store: st, Logger: discardLogger()}); err == nil || !strings.Contains(err.Error(), "tls.client_ca") {
		t.Fatalf("New with a client_ca holding no certificate: %v", err)
	}

	cfg.TLS.ClientCA = ""
	srv, err = New(Options{Config: cfg, Store: st, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if srv.tlsCfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("no client_ca: ClientAuth %v", srv.tlsCfg.ClientAuth)
	}
}
