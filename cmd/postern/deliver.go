package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/delivery"
)

func (a *app) deliverCommand() *cobra.Command {
	var user, mailbox, sender string
	var create, ignoreQuota bool
	cmd := &cobra.Command{
		Use:   "deliver --user NAME [--mailbox M]",
		Short: "Deliver one message from standard input (local delivery agent)",
		Long: `Read one RFC 5322 message from standard input and store it durably in the
account's INBOX (or --mailbox; a missing mailbox falls back to INBOX unless
--create). A leading mbox "From " line is removed. NAME may carry a +detail.

For an MTA's mailbox_command or a procmail/fetchmail pipe. The exit status
follows sysexits.h so the MTA knows whether to retry:
  0   delivered
  64  bad mailbox name (EX_USAGE)
  65  not an acceptable message, or too large (EX_DATAERR)
  67  no such account (EX_NOUSER)
  73  over quota (EX_CANTCREAT)
  75  temporary failure, try again later (EX_TEMPFAIL)`,
		Example: `  postern deliver --user alice < message.eml
  # Postfix main.cf:
  mailbox_command = /usr/local/bin/postern --data /var/lib/postern deliver --user "$USER"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if user == "" {
				return usageError("deliver: --user NAME is required")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return &exitError{code: delivery.ExitTempFail, err: err}
			}
			log := a.logger(cfg)
			st, err := a.openStore(cmd.Context(), cfg, log)
			if err != nil {
				return &exitError{code: delivery.ExitTempFail, err: err}
			}
			defer st.Close()
			res, err := delivery.DeliverLocal(cmd.Context(), st, user, mailbox, a.stdin, delivery.LocalOptions{
				Sender:        sender,
				MaxSize:       int64(cfg.Limits.MaxMessageSize),
				CreateMailbox: create,
				IgnoreQuota:   ignoreQuota,
			})
			if err != nil {
				return &exitError{code: delivery.ExitCode(err), err: deliverError(user, err)}
			}
			log.Debug("delivered", "user", user, "uid", res.UID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&user, "user", "", "recipient account (required)")
	fl.StringVar(&mailbox, "mailbox", "", "target mailbox (default INBOX)")
	fl.StringVar(&sender, "sender", "", "envelope sender, written as Return-Path")
	fl.BoolVar(&create, "create", false, "create --mailbox when missing instead of using INBOX")
	fl.BoolVar(&ignoreQuota, "ignore-quota", false, "deliver even when the account is over quota")
	return cmd
}

// deliverError words a delivery failure for the MTA's bounce or log.
func deliverError(user string, err error) error {
	switch delivery.ExitCode(err) {
	case delivery.ExitNoUser:
		return fmt.Errorf("no such account %q", user)
	case delivery.ExitCantCreate:
		return fmt.Errorf("account %q is over quota", user)
	}
	return fmt.Errorf("delivery to %s failed: %w", user, err)
}
