package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
)

func (a *app) userCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage accounts: add, list, passwd, del, quota, import-passwd",
		Long: `Manage accounts in the store. Account names are case-insensitive and
stored in lower case; they are the IMAP/POP3 login name (user@domain also
logs in as user) and the local part LMTP delivers to.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.userAddCommand(), a.userListCommand(), a.userPasswdCommand(), a.userDelCommand(), a.userQuotaCommand(), a.userImportPasswdCommand())
	return cmd
}

// readPassword returns the first line of stdin (without its line end).
func (a *app) readPassword() (string, error) {
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageError("empty password on standard input")
	}
	return pw, nil
}

// newPassword reads the password from stdin or generates one; generated
// reports which.
func (a *app) newPassword(fromStdin bool) (pw string, generated bool, err error) {
	if fromStdin {
		pw, err = a.readPassword()
		return pw, false, err
	}
	return generatePassword(), true, nil
}

// setPassword stores the credential records of pw: the argon2id hash and
// SCRAM keys, plus with plainEquivalent the encrypted copy CRAM-MD5 and
// APOP need (auth.plain_secret_key_file).
func setPassword(ctx context.Context, cfg config.Config, st store.Store, acct store.Account, pw string, plainEquivalent bool) error {
	opts := auth.HashOptions{SCRAMIterations: cfg.Auth.SCRAMIterations}
	if plainEquivalent {
		key, err := cfg.PlainSecretKey()
		if err != nil {
			return err
		}
		if key == nil {
			return usageError("--plain-equivalent needs auth.plain_secret_key_file in the configuration (--config)")
		}
		opts.PlainSecretKey = key
	}
	secrets, err := auth.HashPasswordWith(pw, opts)
	if err != nil {
		return err
	}
	return st.SetSecrets(ctx, acct.ID, secrets)
}

const plainEquivalentHelp = "also store the password encrypted for CRAM-MD5 and APOP (needs auth.plain_secret_key_file)"

func (a *app) userAddCommand() *cobra.Command {
	var fromStdin, plainEq bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an account (prints a generated password unless --password-stdin)",
		Long: `Create an account with the standard mailboxes (INBOX, Drafts, Sent, Trash,
Junk, Archive). Without --password-stdin a random password is generated and
printed; with it, the first line of standard input is the password.`,
		Example: `  postern user add alice
  printf '%s\n' "$PASSWORD" | postern user add bob --password-stdin`,
		Args: exactArgs(1, "one account NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, generated, err := a.newPassword(fromStdin)
			if err != nil {
				return err
			}
			return a.withStore(cmd.Context(), func(cfg config.Config, st store.Store) error {
				ctx := cmd.Context()
				acct, err := st.CreateAccount(ctx, args[0])
				if errors.Is(err, store.ErrAccountExists) {
					return fmt.Errorf("account %q already exists", strings.ToLower(args[0]))
				}
				if err != nil {
					return err
				}
				if err := setPassword(ctx, cfg, st, acct, pw, plainEq); err != nil {
					_ = st.DeleteAccount(ctx, acct.Name)
					return err
				}
				fmt.Fprintf(a.stdout, "created account %s\n", acct.Name)
				if generated {
					fmt.Fprintf(a.stdout, "password: %s\n", pw)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().BoolVar(&plainEq, "plain-equivalent", false, plainEquivalentHelp)
	return cmd
}

func (a *app) userListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List accounts with their message count, size and quota",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(_ config.Config, st store.Store) error {
				ctx := cmd.Context()
				accts, err := st.Accounts(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tMESSAGES\tBYTES\tQUOTA")
				for _, acct := range accts {
					u, err := st.Usage(ctx, acct.ID)
					if err != nil {
						return fmt.Errorf("%s: %w", acct.Name, err)
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", acct.Name, u.Messages, u.StorageBytes, formatQuota(acct.Quota))
				}
				return tw.Flush()
			})
		},
	}
}

// formatQuota renders a quota as "2G, 1000 messages" or "unlimited".
func formatQuota(q store.Quota) string {
	var parts []string
	if q.StorageBytes > 0 {
		parts = append(parts, config.Size(q.StorageBytes).String())
	}
	if q.Messages > 0 {
		parts = append(parts, strconv.FormatInt(q.Messages, 10)+" messages")
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, ", ")
}

func (a *app) userPasswdCommand() *cobra.Command {
	var fromStdin, plainEq bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set an account's password (generated and printed unless --password-stdin)",
		Args:  exactArgs(1, "one account NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, generated, err := a.newPassword(fromStdin)
			if err != nil {
				return err
			}
			return a.withStore(cmd.Context(), func(cfg config.Config, st store.Store) error {
				acct, err := lookupAccount(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				if err := setPassword(cmd.Context(), cfg, st, acct, pw, plainEq); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "password of %s changed\n", acct.Name)
				if generated {
					fmt.Fprintf(a.stdout, "password: %s\n", pw)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().BoolVar(&plainEq, "plain-equivalent", false, plainEquivalentHelp)
	return cmd
}

// lookupAccount returns an account or a readable "no such account" error.
func lookupAccount(ctx context.Context, st store.Store, name string) (store.Account, error) {
	acct, err := st.Account(ctx, name)
	if errors.Is(err, store.ErrNoAccount) {
		return acct, fmt.Errorf("no account %q", strings.ToLower(name))
	}
	return acct, err
}

func (a *app) userDelCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "del NAME --yes",
		Short: "Delete an account and all its mail",
		Long:  `Delete an account, its mailboxes and all its messages. This cannot be undone; --yes confirms it.`,
		Args:  exactArgs(1, "one account NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError("refusing to delete account %q and all its mail without --yes", strings.ToLower(args[0]))
			}
			return a.withStore(cmd.Context(), func(_ config.Config, st store.Store) error {
				acct, err := lookupAccount(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				if err := st.DeleteAccount(cmd.Context(), acct.Name); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "deleted account %s\n", acct.Name)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}

func (a *app) userQuotaCommand() *cobra.Command {
	var storage, messages string
	cmd := &cobra.Command{
		Use:   "quota NAME [--storage SIZE] [--messages N]",
		Short: "Show or set an account's quota",
		Long: `Show an account's quota and usage, or change it. SIZE is bytes with an
optional binary unit (500M, 2G); 0 means unlimited. A limit not given keeps
its current value. Deliveries over quota are refused (LMTP 552, deliver
exit 73); IMAP reports the quota through GETQUOTA.`,
		Example: `  postern user quota alice --storage 2G --messages 100000
  postern user quota alice --storage 0`,
		Args: exactArgs(1, "one account NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var q store.Quota
			setStorage, setMessages := cmd.Flags().Changed("storage"), cmd.Flags().Changed("messages")
			if setStorage {
				s, err := config.ParseSize(storage)
				if err != nil {
					return usageError("--storage: %v", err)
				}
				q.StorageBytes = int64(s)
			}
			if setMessages {
				n, err := strconv.ParseInt(strings.TrimSpace(messages), 10, 64)
				if err != nil || n < 0 {
					return usageError("--messages: want a number >= 0, not %q", messages)
				}
				q.Messages = n
			}
			return a.withStore(cmd.Context(), func(_ config.Config, st store.Store) error {
				ctx := cmd.Context()
				acct, err := lookupAccount(ctx, st, args[0])
				if err != nil {
					return err
				}
				if setStorage || setMessages {
					if !setStorage {
						q.StorageBytes = acct.Quota.StorageBytes
					}
					if !setMessages {
						q.Messages = acct.Quota.Messages
					}
					if err := st.SetQuota(ctx, acct.ID, q); err != nil {
						return err
					}
					acct.Quota = q
				}
				u, err := st.Usage(ctx, acct.ID)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: quota %s; using %d messages, %d bytes\n", acct.Name, formatQuota(acct.Quota), u.Messages, u.StorageBytes)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&storage, "storage", "", "storage limit, e.g. 500M or 2G (0 = unlimited)")
	cmd.Flags().StringVar(&messages, "messages", "", "message count limit (0 = unlimited)")
	return cmd
}
