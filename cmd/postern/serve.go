package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/server"
)

// serveFlags are the listener overrides of `postern serve`.
type serveFlags struct {
	lmtp, smtp, imap, imaps, pop3, pop3s string
	demo                                 bool
}

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the IMAP, POP3 and LMTP server",
		Long: `Run the server until SIGINT or SIGTERM.

With no --config, built-in defaults apply: the store in --data and
listeners on 127.0.0.1 for LMTP (2424), IMAP (1143), IMAPS (1993),
POP3 (1110) and POP3S (1995). Each listener flag overrides the address
from the config; an empty value ("") turns the listener off; port 0 picks a
free port. The bound addresses are printed at start.

Without a configured certificate a self-signed one is created once in
DATA/tls and its SHA-256 fingerprint printed. SIGHUP reloads certificates
(they are also reloaded when the files change); open connections are kept.

On SIGINT/SIGTERM the server stops accepting, tells sessions goodbye, lets
deliveries in progress finish (or refuses them with a temporary error) within
shutdown_timeout, closes the store and exits 0.`,
		Example: `  postern serve --demo
  postern serve --config /etc/postern/postern.toml
  postern serve --imap 0.0.0.0:143 --imaps 0.0.0.0:993 --pop3 "" --lmtp /run/postern/lmtp`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.serve(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.lmtp, "lmtp", "", "LMTP address: host:port, or a unix socket path (/path or unix:/path)")
	fl.StringVar(&f.smtp, "smtp", "", "SMTP delivery address host:port (off by default)")
	fl.StringVar(&f.imap, "imap", "", "IMAP (STARTTLS) address host:port")
	fl.StringVar(&f.imaps, "imaps", "", "IMAPS (implicit TLS) address host:port")
	fl.StringVar(&f.pop3, "pop3", "", "POP3 (STLS) address host:port")
	fl.StringVar(&f.pop3s, "pop3s", "", "POP3S (implicit TLS) address host:port")
	fl.BoolVar(&f.demo, "demo", false, "create a 'demo' account with a welcome message and print how to connect")
	return cmd
}

// applyListenFlags copies the listener flags that were given over cfg.
func applyListenFlags(cmd *cobra.Command, f serveFlags, cfg *config.Config) {
	for _, o := range []struct {
		name string
		val  string
		dst  *string
	}{
		{"lmtp", f.lmtp, &cfg.Listen.LMTP},
		{"smtp", f.smtp, &cfg.Listen.SMTP},
		{"imap", f.imap, &cfg.Listen.IMAP},
		{"imaps", f.imaps, &cfg.Listen.IMAPS},
		{"pop3", f.pop3, &cfg.Listen.POP3},
		{"pop3s", f.pop3s, &cfg.Listen.POP3S},
	} {
		if cmd.Flags().Changed(o.name) {
			*o.dst = o.val
		}
	}
}

func (a *app) serve(cmd *cobra.Command, f serveFlags) error {
	ctx := cmd.Context()
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	applyListenFlags(cmd, f, &cfg)
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := a.logger(cfg)
	st, err := a.openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	var closeOnce sync.Once
	var closeErr error
	closeStore := func() error {
		closeOnce.Do(func() { closeErr = st.Close() })
		return closeErr
	}
	defer closeStore()

	var demo *demoAccount
	if f.demo {
		if demo, err = ensureDemo(ctx, st); err != nil {
			return fmt.Errorf("demo account: %w", err)
		}
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st, Logger: log})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	printBanner(a.stdout, cfg, srv, demo)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				// A second SIGINT/SIGTERM during the shutdown kills the
				// process at once (the default action).
				signal.Reset(os.Interrupt, syscall.SIGTERM)
				return
			case <-hup:
				log.Info("SIGHUP: reloading TLS certificates")
				_ = srv.ReloadTLS()
			}
		}
	}()
	log.Info("postern started", "version", version(), "data", cfg.DataDir)
	if err := srv.Run(runCtx); err != nil {
		return err
	}
	if err := closeStore(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	log.Info("postern stopped")
	return nil
}

// listenerNote says what kind of listener a name is.
func listenerNote(name string) string {
	switch name {
	case "lmtp":
		return "delivery from an MTA"
	case "smtp":
		return "delivery (plain SMTP)"
	case "imap":
		return "STARTTLS"
	case "pop3":
		return "STLS"
	}
	return "implicit TLS"
}

// printBanner tells the operator where the server listens, which
// certificate it uses and, with --demo, how to log in. The listener lines
// ("  NAME  ADDR  (note)") are stable for scripts and tests.
func printBanner(w io.Writer, cfg config.Config, srv *server.Server, demo *demoAccount) {
	fmt.Fprintf(w, "postern %s serving the store in %s\n", version(), cfg.DataDir)
	addrs := map[string]string{}
	for _, l := range srv.Listeners() {
		addrs[l.Name] = l.Addr.String()
		fmt.Fprintf(w, "  %-6s %-22s (%s)\n", l.Name, l.Addr.String(), listenerNote(l.Name))
	}
	certs := srv.Certificates()
	if certs.SelfSigned() {
		cert, _ := server.SelfSignedPaths(cfg.DataDir)
		fmt.Fprintf(w, "TLS: self-signed certificate %s\n", cert)
	} else {
		fmt.Fprintf(w, "TLS: %d configured certificate(s)\n", len(cfg.TLS.Certificates))
	}
	fmt.Fprintf(w, "  SHA-256 fingerprint: %s\n", certs.Fingerprint())
	if demo == nil {
		return
	}
	fmt.Fprintln(w)
	if demo.created {
		fmt.Fprintf(w, "Demo account created (the password is shown only this once):\n")
		fmt.Fprintf(w, "  user:     %s\n", demo.name)
		fmt.Fprintf(w, "  password: %s\n", demo.password)
	} else {
		fmt.Fprintf(w, "Demo account %q already exists; its password was printed when it was\n", demo.name)
		fmt.Fprintf(w, "created. Set a new one with: postern --data %s user passwd %s\n", cfg.DataDir, demo.name)
	}
	pw := demo.password
	if pw == "" {
		pw = "PASSWORD"
	}
	fmt.Fprintln(w, "Connect:")
	if a, ok := addrs["imap"]; ok {
		fmt.Fprintf(w, "  IMAP  %s  user %s (STARTTLS, or plain from localhost)\n", a, demo.name)
		if host, port, err := net.SplitHostPort(a); err == nil {
			fmt.Fprintf(w, "        python3 -c \"import imaplib; m=imaplib.IMAP4('%s', %s); m.login('%s', '%s'); print(m.select('INBOX'))\"\n", host, port, demo.name, pw)
		}
	}
	if a, ok := addrs["imaps"]; ok {
		fmt.Fprintf(w, "  IMAPS %s  (accept the self-signed certificate by its fingerprint)\n", a)
	}
	if a, ok := addrs["pop3"]; ok {
		fmt.Fprintf(w, "  POP3  %s  user %s\n", a, demo.name)
	}
	if a, ok := addrs["pop3s"]; ok {
		fmt.Fprintf(w, "  POP3S %s\n", a)
	}
	if a, ok := addrs["lmtp"]; ok {
		fmt.Fprintf(w, "  LMTP  %s  deliver to %s@localhost\n", a, demo.name)
	}
}
