// Command postern is the postern mail access server and its administration
// tool: `postern serve` runs IMAP, POP3 and LMTP over the store in the data
// directory; the other commands manage accounts, mailboxes and mail in that
// same store, also while a server is running on it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries a process exit status out of a command. A nil err
// exits silently with code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitUsage is the status of a command line that does not parse.
const exitUsage = 2

// usageError marks a bad command line.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run executes one command line and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			printError(stderr, ee.err)
		}
		if ee.code == exitUsage {
			fmt.Fprintln(stderr, "Run 'postern --help' for usage.")
		}
		return ee.code
	}
	printError(stderr, err)
	return 1
}

// printError writes an error to stderr once prefixed with the program
// name.
func printError(w io.Writer, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, "postern") {
		msg = "postern: " + msg
	}
	fmt.Fprintln(w, msg)
}

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "postern",
		Short: "postern: IMAP, POP3 and LMTP mail access server",
		Long: `postern keeps users' mailboxes and serves them over IMAP4rev1/IMAP4rev2
and POP3; it takes final delivery over LMTP (or SMTP, or the local
'deliver' command) from an MTA such as Postfix.

Quick start:
  postern serve --demo          run on localhost with a demo account
  postern user add alice        create an account (prints its password)
  postern config example        a commented configuration file

Every command works on the store in --data (default ./postern-data), also
while a server is running on it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// No arguments at the top level: "postern foo" is an unknown command.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%s: %v", cmd.CommandPath(), err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.dataDir, "data", "", "data directory holding the store (default from config, else ./postern-data)")
	pf.StringVar(&a.configPath, "config", "", "configuration file (TOML; see 'postern config example')")
	pf.StringVar(&a.logLevel, "log-level", "", "log level: debug, info, warn or error (overrides the config)")
	pf.StringVar(&a.logFormat, "log-format", "", "log format: text or json (overrides the config)")

	root.AddCommand(
		a.serveCommand(),
		a.configCommand(),
		a.userCommand(),
		a.mailboxCommand(),
		a.deliverCommand(),
		a.importCommand(),
		a.exportCommand(),
		a.checkCommand(),
		a.versionCommand(),
	)
	return root
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s: want %s", cmd.CommandPath(), names)
		}
		return nil
	}
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s: unexpected argument %q", cmd.CommandPath(), args[0])
	}
	return nil
}
