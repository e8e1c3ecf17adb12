package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/store/sqlite"
)

// app holds the global flags and the process's standard streams; one app
// runs one command line.
type app struct {
	dataDir    string
	configPath string
	logLevel   string
	logFormat  string

	stdin          io.Reader
	stdout, stderr io.Writer
}

// loadConfig returns the configuration of this command line: the file of
// --config (or the defaults) with --data, --log-level and --log-format
// applied on top.
func (a *app) loadConfig() (config.Config, error) {
	cfg := config.Default()
	if a.configPath != "" {
		c, err := config.Load(a.configPath)
		if err != nil {
			return cfg, err
		}
		cfg = c
	}
	if a.dataDir != "" {
		cfg.DataDir = a.dataDir
	}
	if a.logLevel != "" {
		cfg.Log.Level = a.logLevel
	}
	if a.logFormat != "" {
		cfg.Log.Format = a.logFormat
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// logger returns the slog logger on standard error the config asks for.
func (a *app) logger(cfg config.Config) *slog.Logger {
	level, _ := config.ParseLevel(cfg.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

// openStore opens the embedded store of cfg.DataDir. SQLite in WAL mode lets
// any number of CLI processes use it beside a running server.
func (a *app) openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store.Store, error) {
	st, err := sqlite.Open(ctx, cfg.DataDir, storeOptions(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("opening store in %s: %w", cfg.DataDir, err)
	}
	return st, nil
}

// storeOptions maps the configuration onto the store's options.
func storeOptions(cfg config.Config, log *slog.Logger) sqlite.Options {
	return sqlite.Options{
		MaxMessageSize:     int64(cfg.Limits.MaxMessageSize),
		TombstoneRetention: cfg.Store.TombstoneRetention.D(),
		Logger:             log,
	}
}

// withStore loads the config, opens the store, runs fn and closes the store.
func (a *app) withStore(ctx context.Context, fn func(cfg config.Config, st store.Store) error) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	log := a.logger(cfg)
	st, err := a.openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	err = fn(cfg, st)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// passwordAlphabet leaves out characters that are easy to misread.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// generatePassword returns a random password of 20 characters (about 116
// bits).
func generatePassword() string {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 20 {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand never fails on supported systems
		}
		// Rejection sampling keeps the choice uniform.
		if int(buf[0]) >= 256-256%len(passwordAlphabet) {
			continue
		}
		b.WriteByte(passwordAlphabet[int(buf[0])%len(passwordAlphabet)])
	}
	return b.String()
}
