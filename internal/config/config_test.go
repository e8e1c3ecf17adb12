package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatalf("empty document: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("empty document differs from Default:\n%+v\n%+v", c, Default())
	}
	if c.DataDir != "./postern-data" || c.Listen.LMTP != "127.0.0.1:2424" || c.Listen.IMAP != "127.0.0.1:1143" ||
		c.Listen.IMAPS != "127.0.0.1:1993" || c.Listen.POP3 != "127.0.0.1:1110" || c.Listen.POP3S != "127.0.0.1:1995" || c.Listen.SMTP != "" {
		t.Fatalf("unexpected default listeners: %+v (data %q)", c.Listen, c.DataDir)
	}
	if c.Limits.IMAPIdleTimeout.D() != 30*time.Minute || c.Limits.POP3IdleTimeout.D() != 10*time.Minute {
		t.Fatalf("idle timeouts %v %v", c.Limits.IMAPIdleTimeout, c.Limits.POP3IdleTimeout)
	}
	if c.Store.TombstoneRetention.D() != 90*24*time.Hour {
		t.Fatalf("tombstone retention %v", c.Store.TombstoneRetention)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestExampleParses(t *testing.T) {
	c, err := Parse([]byte(Example()))
	if err != nil {
		t.Fatalf("example: %v", err)
	}
	d := Default()
	if len(c.Auth.TrustedNetworks) != 2 || c.Auth.TrustedNetworks[0].String() != "127.0.0.0/8" {
		t.Fatalf("trusted networks %v", c.Auth.TrustedNetworks)
	}
	// Apart from the spelled-out trusted networks (same meaning as nil) and
	// the empty domain list, the example is the defaults.
	c.Auth.TrustedNetworks = nil
	c.Domains = nil
	if c.Auth.ClientCertIdentity != "cn" || c.Auth.OAuthAccountClaim != "email" || c.Auth.LockoutDuration.D() != 15*time.Minute {
		t.Fatalf("auth example values %+v", c.Auth)
	}
	c.Auth = d.Auth
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("example differs from defaults:\n%+v\n%+v", c, d)
	}
	// The commented-out certificate blocks must parse too once uncommented.
	un := strings.ReplaceAll(Example(), "# [[tls.certificate]]", "[[tls.certificate]]")
	un = strings.ReplaceAll(un, "# cert = ", "cert = ")
	un = strings.ReplaceAll(un, "# key = ", "key = ")
	c, err = Parse([]byte(un))
	if err != nil {
		t.Fatalf("uncommented example: %v", err)
	}
	if len(c.TLS.Certificates) != 2 || c.TLS.Certificates[1].Key != "/etc/postern/mail.example.net.key" {
		t.Fatalf("certificates %+v", c.TLS.Certificates)
	}
}

func TestOverrides(t *testing.T) {
	src := `
data_dir = "/var/lib/postern"
domains = ["example.org", "example.net"]

[listen]
imap = ""
lmtp = "unix:/run/postern/lmtp"
smtp = "0.0.0.0:25"

[limits]
max_message_size = "2G"
connections_per_ip = 5
imap_idle_timeout = 3600

[[tls.certificate]]
cert = "a.pem"
key = "a.key"

[auth]
trusted_networks = ["10.0.0.0/8", "192.168.1.7"]

[pop3]
expire = 30
login_delay = "5m"

[store]
tombstone_retention = "720h"
`
	c, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/postern" || c.Listen.IMAP != "" || c.Listen.IMAPS != DefaultIMAPS || c.Listen.SMTP != "0.0.0.0:25" {
		t.Fatalf("listeners %+v", c.Listen)
	}
	if p, ok := IsUnixSocket(c.Listen.LMTP); !ok || p != "/run/postern/lmtp" {
		t.Fatalf("lmtp %q", c.Listen.LMTP)
	}
	if c.Limits.MaxMessageSize != 2<<30 || c.Limits.ConnectionsPerIP != 5 || c.Limits.IMAPIdleTimeout.D() != time.Hour {
		t.Fatalf("limits %+v", c.Limits)
	}
	if got := c.Auth.TrustedNetworks[1].String(); got != "192.168.1.7/32" {
		t.Fatalf("single host network %q", got)
	}
	if c.POP3.Expire != 30 || c.POP3.LoginDelay.D() != 5*time.Minute {
		t.Fatalf("pop3 %+v", c.POP3)
	}
	if c.Store.TombstoneRetention.D() != 30*24*time.Hour {
		t.Fatalf("store %+v", c.Store)
	}
	if len(c.Domains) != 2 || len(c.TLS.Certificates) != 1 {
		t.Fatalf("domains %v certs %v", c.Domains, c.TLS.Certificates)
	}
}

// configError returns the single *Error in err.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var out []*Error
	for _, e := range unwrapAll(err) {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %T %v is not a *config.Error", e, e)
		}
		out = append(out, ce)
	}
	return out
}

func TestUnknownKeys(t *testing.T) {
	src := "data_dir = \"x\"\n\n[listen]\nimap = \"127.0.0.1:143\"\nimapz = \"127.0.0.1:144\"\n\n[limitz]\nfoo = 1\n[log]\n  \"lev el\" = \"debug\"\n"
	errs := configErrors(t, parseErr(src))
	want := []struct {
		key  string
		line int
	}{{"listen.imapz", 5}, {"limitz", 7}, {"limitz.foo", 8}, {`log."lev el"`, 10}}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors: %v", len(errs), errs)
	}
	for i, w := range want {
		if errs[i].Key != w.key || errs[i].Line != w.line || errs[i].Msg != "unknown key" {
			t.Errorf("error %d = %+v, want key %s line %d", i, errs[i], w.key, w.line)
		}
	}
	if s := errs[0].Error(); !strings.Contains(s, ":5: listen.imapz: unknown key") {
		t.Errorf("message %q", s)
	}
}

func TestBadValues(t *testing.T) {
	cases := []struct {
		name, src, key string
		line           int
	}{
		{"size", "[limits]\nmax_message_size = \"lots\"\n", "limits.max_message_size", 2},
		{"type", "[limits]\n\nconnections_per_ip = \"many\"\n", "limits.connections_per_ip", 3},
		{"duration", "[tls]\nhandshake_timeout = \"soon\"\n", "tls.handshake_timeout", 2},
		{"network", "[auth]\ntrusted_networks = [\"10.0.0.0/33\"]\n", "auth.trusted_networks", 2},
		{"address", "[listen]\nimap = \"localhost\"\n", "listen.imap", 2},
		{"unix smtp", "[listen]\n\n\nsmtp = \"/tmp/s\"\n", "listen.smtp", 4},
		{"negative", "[limits]\nconnections_per_ip = -1\n", "limits.connections_per_ip", 2},
		{"level", "[log]\nlevel = \"loud\"\n", "log.level", 2},
		{"format", "[log]\nformat = \"xml\"\n", "log.format", 2},
		{"version", "[tls]\nmin_version = \"1.0\"\n", "tls.min_version", 2},
		{"expire", "[pop3]\nexpire = \"sometimes\"\n", "pop3.expire", 2},
		{"cert pair", "[[tls.certificate]]\ncert = \"a\"\n", "tls.certificate", 1},
		{"table as value", "listen = 5\n", "listen", 1},
		{"cert identity", "[auth]\nclient_cert_identity = \"serial\"\n", "auth.client_cert_identity", 2},
		{"cram without key", "\n[auth]\ncram_md5 = true\n", "auth.plain_secret_key_file", 2},
		{"scram iterations", "[auth]\nscram_iterations = 100\n", "auth.scram_iterations", 2},
		{"lockout", "[auth]\nlockout_duration = \"-5m\"\n", "auth.lockout_duration", 2},
		{"retention zero", "[store]\ntombstone_retention = \"0s\"\n", "store.tombstone_retention", 2},
		{"retention negative", "[store]\n\ntombstone_retention = \"-1h\"\n", "store.tombstone_retention", 3},
		{"retention days", "[store]\ntombstone_retention = \"90d\"\n", "store.tombstone_retention", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := configErrors(t, parseErr(tc.src))
			if errs[0].Key != tc.key || errs[0].Line != tc.line {
				t.Fatalf("got %+v (%v), want key %s line %d", errs[0], errs[0], tc.key, tc.line)
			}
			if !strings.Contains(errs[0].Error(), tc.key) {
				t.Fatalf("message %q does not name %s", errs[0].Error(), tc.key)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	errs := configErrors(t, parseErr("data_dir = \"x\"\nimap = = 1\n"))
	if errs[0].Line != 2 {
		t.Fatalf("line %d in %v", errs[0].Line, errs[0])
	}
}

func TestLoadNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "postern.toml")
	if err := os.WriteFile(p, []byte("bogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p+":1: bogus: unknown key") {
		t.Fatalf("got %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "1024": 1024, "500K": 500 << 10, "500M": 500 << 20, "2G": 2 << 30, "1T": 1 << 40,
		"2g": 2 << 30, "10MB": 10 << 20, "10MiB": 10 << 20, " 7 ": 7,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1.5G", "lots", "9999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
	if s := Size(50 << 20).String(); s != "50M" {
		t.Errorf("String = %q", s)
	}
	if s := Size(1000).String(); s != "1000" {
		t.Errorf("String = %q", s)
	}
}

func parseErr(src string) error {
	_, err := Parse([]byte(src))
	return err
}

func TestPlainSecretKey(t *testing.T) {
	c := Default()
	if k, err := c.PlainSecretKey(); k != nil || err != nil {
		t.Fatalf("no file: %v %v", k, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	os.WriteFile(good, []byte(" "+strings.Repeat("0f", 32)+"\n"), 0o600)
	c.Auth.PlainSecretKeyFile = good
	if k, err := c.PlainSecretKey(); err != nil || len(k) != 32 || k[0] != 0x0f {
		t.Fatalf("good key: %x %v", k, err)
	}
	for name, content := range map[string]string{"short.key": "abcd", "nothex.key": strings.Repeat("zz", 32)} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		c.Auth.PlainSecretKeyFile = p
		if _, err := c.PlainSecretKey(); err == nil || !strings.Contains(err.Error(), "auth.plain_secret_key_file") {
			t.Errorf("%s: %v", name, err)
		}
	}
	c.Auth.PlainSecretKeyFile = filepath.Join(dir, "missing")
	c.Auth.Keytab = filepath.Join(dir, "missing.keytab")
	errs := unwrapAll(c.CheckFiles())
	if len(errs) != 2 || !strings.Contains(errs[1].Error(), "auth.keytab") {
		t.Fatalf("CheckFiles: %v", errs)
	}
}

// TestExampleComplete checks that the example names every key of Config, so
// that `postern config example` documents everything.
func TestExampleComplete(t *testing.T) {
	ex := Example()
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			tag := f.Tag.Get("toml")
			if tag == "" {
				continue
			}
			key := prefix + tag
			ft := f.Type
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && ft.Elem() != reflect.TypeFor[Prefix]() {
				if !strings.Contains(ex, "[["+key+"]]") {
					t.Errorf("example lacks [[%s]]", key)
				}
				walk("", ft.Elem())
				continue
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Prefix]() {
				if !strings.Contains(ex, "\n["+key+"]\n") {
					t.Errorf("example lacks [%s]", key)
				}
				walk(key+".", ft)
				continue
			}
			if !strings.Contains(ex, "\n"+tag+" = ") && !strings.Contains(ex, "\n# "+tag+" = ") {
				t.Errorf("example lacks %s", key)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
}

func TestTombstoneRetention(t *testing.T) {
	c, err := Parse([]byte("[store]\ntombstone_retention = 86400\n"))
	if err != nil || c.Store.TombstoneRetention.D() != 24*time.Hour {
		t.Fatalf("bare seconds: %v %v", c.Store.TombstoneRetention, err)
	}
	err = parseErr("[store]\ntombstone_retention = \"0s\"\n")
	if err == nil || !strings.Contains(err.Error(), "store.tombstone_retention: must be positive") {
		t.Fatalf("zero retention: %v", err)
	}
}
