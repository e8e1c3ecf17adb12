package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/transfer"
)

// progressFor returns a progress bar when w is a terminal, else plain lines
// every few seconds (logs, pipes, CI).
func progressFor(w io.Writer) transfer.Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return transfer.NewBarProgress(w)
	}
	return transfer.NewLineProgress(w, 5*time.Second)
}

// transferFlags are shared by import and export.
type transferFlags struct {
	user, format, mailbox string
}

func (f *transferFlags) register(cmd *cobra.Command, mailboxHelp string) {
	fl := cmd.Flags()
	fl.StringVar(&f.user, "user", "", "account (required)")
	fl.StringVar(&f.format, "format", "", "mbox or maildir (required)")
	fl.StringVar(&f.mailbox, "mailbox", "", mailboxHelp)
}

func (f *transferFlags) check(cmd *cobra.Command) (transfer.Format, error) {
	if f.user == "" {
		return 0, usageError("%s: --user NAME is required", cmd.CommandPath())
	}
	if f.format == "" {
		return 0, usageError("%s: --format mbox|maildir is required", cmd.CommandPath())
	}
	format, err := transfer.ParseFormat(f.format)
	if err != nil {
		return 0, usageError("%s: --format: %v", cmd.CommandPath(), err)
	}
	return format, nil
}

func (a *app) importCommand() *cobra.Command {
	var f transferFlags
	var keepMeta bool
	cmd := &cobra.Command{
		Use:   "import --user NAME --format mbox|maildir PATH",
		Short: "Import mail from an mbox file or directory, or a Maildir",
		Long: `Import mail into an existing account, keeping flags, keywords and dates.

mbox: PATH is one mbox file (into --mailbox, default INBOX) or a directory of
mbox files, one per mailbox (Thunderbird's Folder.sbd/ directories work).
Maildir: PATH is the Maildir root (INBOX) with Maildir++ ".Sub.Folder" or
nested subfolders; dovecot-uidlist UIDs and dovecot-keywords are honoured.

Import is idempotent: running it again adds nothing. Progress goes to standard
error, as a bar on a terminal.`,
		Example: `  postern import --user alice --format mbox ~/mail/inbox.mbox
  postern import --user alice --format mbox ~/mail/old.mbox --mailbox Archive/2019
  postern import --user alice --format maildir /var/mail/alice/Maildir`,
		Args: exactArgs(1, "one PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.check(cmd)
			if err != nil {
				return err
			}
			return a.withStore(cmd.Context(), func(cfg config.Config, st store.Store) error {
				ctx := cmd.Context()
				if _, err := lookupAccount(ctx, st, f.user); err != nil {
					return err
				}
				rep, err := transfer.Import(ctx, st, transfer.ImportOptions{
					Account:         f.user,
					Format:          format,
					Path:            args[0],
					Mailbox:         f.mailbox,
					KeepMetaHeaders: keepMeta,
					MaxMessageSize:  int64(cfg.Limits.MaxMessageSize),
					Progress:        progressFor(a.stderr),
					Logger:          a.logger(cfg),
				})
				fmt.Fprintf(a.stdout, "imported %d messages (%d bytes) into %d mailboxes (%d new); %d already present, %d failed\n",
					rep.Messages, rep.Bytes, rep.Mailboxes, rep.Created, rep.Skipped, rep.Failed)
				if err != nil {
					return err
				}
				if rep.Failed > 0 {
					return &exitError{code: 1, err: fmt.Errorf("%d messages could not be imported (see the log)", rep.Failed)}
				}
				return nil
			})
		},
	}
	f.register(cmd, "target mailbox (mbox file: default INBOX; directory: where the root goes)")
	cmd.Flags().BoolVar(&keepMeta, "keep-meta-headers", false, "keep mbox Status/X-Status/X-Keywords header fields in the messages")
	return cmd
}

func (a *app) exportCommand() *cobra.Command {
	var f transferFlags
	cmd := &cobra.Command{
		Use:   "export --user NAME --format mbox|maildir PATH",
		Short: "Export mail to mbox or Maildir",
		Long: `Export an account's mail, with flags, keywords and dates, to PATH, which must
not exist yet (an empty directory is accepted).

mbox: with --mailbox, PATH becomes one mboxrd file; without, PATH becomes a
directory with one mbox file per mailbox ("Sub/Folder.mbox").
Maildir: PATH becomes a Maildir++ tree (INBOX at the root) with
dovecot-uidlist and dovecot-keywords, so UIDs survive a round trip.`,
		Example: `  postern export --user alice --format mbox --mailbox INBOX inbox.mbox
  postern export --user alice --format maildir /backup/alice`,
		Args: exactArgs(1, "one PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.check(cmd)
			if err != nil {
				return err
			}
			return a.withStore(cmd.Context(), func(cfg config.Config, st store.Store) error {
				ctx := cmd.Context()
				if _, err := lookupAccount(ctx, st, f.user); err != nil {
					return err
				}
				rep, err := transfer.Export(ctx, st, transfer.ExportOptions{
					Account:  f.user,
					Format:   format,
					Path:     args[0],
					Mailbox:  f.mailbox,
					Progress: progressFor(a.stderr),
					Logger:   a.logger(cfg),
				})
				if err != nil {
					return err
				}
				msg := fmt.Sprintf("exported %d messages (%d bytes) from %d mailboxes to %s", rep.Messages, rep.Bytes, rep.Mailboxes, args[0])
				if rep.KeywordsDropped > 0 {
					msg += fmt.Sprintf("; %d keywords did not fit Maildir's 26 letters", rep.KeywordsDropped)
				}
				fmt.Fprintln(a.stdout, msg)
				return nil
			})
		},
	}
	f.register(cmd, "export only this mailbox (default: all)")
	return cmd
}

// plural is a tiny helper for messages.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(word, "s"))
}
