package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/config"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "postern.toml")
	src := "data_dir = \"/from/config\"\n[log]\nlevel = \"warn\"\nformat = \"json\"\n"
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}

	a := &app{}
	cfg, err := a.loadConfig()
	if err != nil || cfg.DataDir != config.DefaultDataDir {
		t.Fatalf("no flags: %q %v", cfg.DataDir, err)
	}
	a = &app{configPath: cfgPath}
	cfg, err = a.loadConfig()
	if err != nil || cfg.DataDir != "/from/config" || cfg.Log.Level != "warn" || cfg.Log.Format != "json" {
		t.Fatalf("config only: %+v %v", cfg, err)
	}
	a = &app{configPath: cfgPath, dataDir: "/from/flag", logLevel: "debug", logFormat: "text"}
	cfg, err = a.loadConfig()
	if err != nil || cfg.DataDir != "/from/flag" || cfg.Log.Level != "debug" || cfg.Log.Format != "text" {
		t.Fatalf("flags over config: %+v %v", cfg, err)
	}
	a = &app{logLevel: "chatty"}
	if _, err := a.loadConfig(); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("bad --log-level: %v", err)
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		pw := generatePassword()
		if len(pw) != 20 || strings.Trim(pw, passwordAlphabet) != "" {
			t.Fatalf("password %q", pw)
		}
		if seen[pw] {
			t.Fatalf("password %q repeated", pw)
		}
		seen[pw] = true
	}
}

func TestParseSpecialUse(t *testing.T) {
	for in, want := range map[string]string{"": "", "junk": `\Junk`, `\Sent`: `\Sent`, `\ARCHIVE`: `\Archive`} {
		if got, err := parseSpecialUse(in); err != nil || got != want {
			t.Errorf("parseSpecialUse(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := parseSpecialUse(`\Important`); err == nil {
		t.Error(`\Important accepted`)
	}
}
