package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestClientCAKey(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing-ca.pem")
	c, err := Parse([]byte("[tls]\nclient_ca = \"" + missing + "\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.ClientCA != missing {
		t.Fatalf("tls.client_ca = %q", c.TLS.ClientCA)
	}
	if err := c.CheckFiles(); err == nil || !strings.Contains(err.Error(), "tls.client_ca") {
		t.Fatalf("CheckFiles with a missing CA file: %v", err)
	}
	if Default().TLS.ClientCA != "" {
		t.Fatal("client certificates are requested by default")
	}
}
