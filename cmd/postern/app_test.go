package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
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

// TestStoreTombstoneRetention: store.tombstone_retention reaches the store
// the commands open. With a retention of a millisecond, housekeeping prunes
// a fresh tombstone (ChangesSince says so); with the default it keeps it.
func TestStoreTombstoneRetention(t *testing.T) {
	for _, tc := range []struct {
		retention string
		pruned    bool
	}{{`"1ms"`, true}, {"", false}} {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "postern.toml")
		src := fmt.Sprintf("data_dir = %q\n", filepath.Join(dir, "data"))
		if tc.retention != "" {
			src += "[store]\ntombstone_retention = " + tc.retention + "\n"
		}
		if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		a := &app{configPath: cfgPath, stdout: io.Discard, stderr: io.Discard}
		err := a.withStore(t.Context(), func(cfg config.Config, st store.Store) error {
			ctx := t.Context()
			acc, err := st.CreateAccount(ctx, "alice")
			if err != nil {
				return err
			}
			inbox, err := st.Mailbox(ctx, acc.ID, "INBOX")
			if err != nil {
				return err
			}
			msg, err := st.Stage(ctx, strings.NewReader("Subject: x\r\n\r\nbody\r\n"), 0)
			if err != nil {
				return err
			}
			res, err := st.Append(ctx, []store.AppendRequest{{Account: acc.ID, Mailbox: inbox.ID, Message: msg}})
			if err != nil || res[0].Err != nil {
				return fmt.Errorf("append: %v %v", err, res)
			}
			if _, err := st.Expunge(ctx, acc.ID, inbox.ID, []store.UID{res[0].UID}); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
			if err := st.(*sqlite.DB).Maintain(ctx); err != nil {
				return err
			}
			ch, err := st.ChangesSince(ctx, acc.ID, inbox.ID, 0)
			if err != nil {
				return err
			}
			if ch.TombstonesPruned != tc.pruned {
				return fmt.Errorf("retention %s: pruned %v, want %v (%+v)", tc.retention, ch.TombstonesPruned, tc.pruned, ch)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
