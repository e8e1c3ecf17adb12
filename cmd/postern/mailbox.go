package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
)

// specialUses returns the RFC 6154 attributes a mailbox may carry.
func specialUses() []string {
	return []string{`\Drafts`, `\Sent`, `\Trash`, `\Junk`, `\Archive`, `\All`, `\Flagged`}
}

func (a *app) mailboxCommand() *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:   "mailbox",
		Short: "Manage an account's mailboxes: list, create, rename, delete",
		Long: `Manage the mailboxes (folders) of one account, given with --user.
Names are UTF-8 with "/" as the hierarchy separator ("Lists/go-nuts");
INBOX is case-insensitive and always exists. Changes are seen at once by
connected IMAP clients.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&user, "user", "", "account whose mailboxes to manage (required)")
	// withAccount runs fn on the --user account.
	withAccount := func(cmd *cobra.Command, fn func(ctx context.Context, st store.Store, acct store.Account) error) error {
		if user == "" {
			return usageError("%s: --user NAME is required", cmd.CommandPath())
		}
		return a.withStore(cmd.Context(), func(_ config.Config, st store.Store) error {
			acct, err := lookupAccount(cmd.Context(), st, user)
			if err != nil {
				return err
			}
			return fn(cmd.Context(), st, acct)
		})
	}

	list := &cobra.Command{
		Use:   "list --user NAME",
		Short: "List mailboxes with message counts and sizes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAccount(cmd, func(ctx context.Context, st store.Store, acct store.Account) error {
				mbs, err := st.Mailboxes(ctx, acct.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MAILBOX\tMESSAGES\tUNSEEN\tBYTES\tSPECIAL-USE\tSUBSCRIBED")
				for _, mb := range mbs {
					stt, err := st.Status(ctx, acct.ID, mb.ID)
					if errors.Is(err, store.ErrNotSelectable) {
						fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\t%s\n", mb.Name, dash(mb.SpecialUse), yesNo(mb.Subscribed))
						continue
					}
					if err != nil {
						return fmt.Errorf("%s: %w", mb.Name, err)
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", mb.Name, stt.Messages, stt.Unseen, stt.Size, dash(mb.SpecialUse), yesNo(mb.Subscribed))
				}
				return tw.Flush()
			})
		},
	}

	var specialUse string
	create := &cobra.Command{
		Use:   "create --user NAME MAILBOX",
		Short: "Create a mailbox (and any missing parents)",
		Example: `  postern mailbox create --user alice Lists/go-nuts
  postern mailbox create --user alice Spam --special-use '\Junk'`,
		Args: exactArgs(1, "one MAILBOX name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			use, err := parseSpecialUse(specialUse)
			if err != nil {
				return err
			}
			return withAccount(cmd, func(ctx context.Context, st store.Store, acct store.Account) error {
				mb, err := st.CreateMailbox(ctx, acct.ID, args[0], use)
				if err != nil {
					return mailboxError(args[0], err)
				}
				fmt.Fprintf(a.stdout, "created mailbox %s\n", mb.Name)
				return nil
			})
		},
	}
	create.Flags().StringVar(&specialUse, "special-use", "", `RFC 6154 attribute: \Drafts, \Sent, \Trash, \Junk, \Archive, \All or \Flagged`)

	rename := &cobra.Command{
		Use:   "rename --user NAME OLD NEW",
		Short: "Rename a mailbox with its children (renaming INBOX moves its messages)",
		Args:  exactArgs(2, "OLD and NEW mailbox names"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAccount(cmd, func(ctx context.Context, st store.Store, acct store.Account) error {
				if err := st.RenameMailbox(ctx, acct.ID, args[0], args[1]); err != nil {
					return mailboxError(args[0], err)
				}
				fmt.Fprintf(a.stdout, "renamed mailbox %s to %s\n", args[0], args[1])
				return nil
			})
		},
	}

	var yes bool
	del := &cobra.Command{
		Use:   "delete --user NAME MAILBOX [--yes]",
		Short: "Delete a mailbox and its messages (--yes needed when it holds mail)",
		Args:  exactArgs(1, "one MAILBOX name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAccount(cmd, func(ctx context.Context, st store.Store, acct store.Account) error {
				mb, err := st.Mailbox(ctx, acct.ID, args[0])
				if err != nil {
					return mailboxError(args[0], err)
				}
				if !yes {
					stt, err := st.Status(ctx, acct.ID, mb.ID)
					if err == nil && stt.Messages > 0 {
						return usageError("mailbox %s holds %d messages; add --yes to delete them", mb.Name, stt.Messages)
					}
				}
				if err := st.DeleteMailbox(ctx, acct.ID, mb.Name); err != nil {
					return mailboxError(args[0], err)
				}
				fmt.Fprintf(a.stdout, "deleted mailbox %s\n", mb.Name)
				return nil
			})
		},
	}
	del.Flags().BoolVar(&yes, "yes", false, "confirm deleting the messages it holds")

	cmd.AddCommand(list, create, rename, del)
	return cmd
}

// parseSpecialUse accepts an RFC 6154 attribute with or without the
// backslash, in any case.
func parseSpecialUse(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	want := `\` + strings.TrimPrefix(s, `\`)
	for _, u := range specialUses() {
		if strings.EqualFold(u, want) {
			return u, nil
		}
	}
	return "", usageError("--special-use %q: want one of %s", s, strings.Join(specialUses(), " "))
}

// mailboxError turns store errors into messages naming the mailbox.
func mailboxError(name string, err error) error {
	switch {
	case errors.Is(err, store.ErrNoMailbox):
		return fmt.Errorf("no mailbox %q", name)
	case errors.Is(err, store.ErrMailboxExists):
		return fmt.Errorf("mailbox %q already exists", name)
	case errors.Is(err, store.ErrHasChildren):
		return fmt.Errorf("mailbox %q has child mailboxes; delete them first", name)
	case errors.Is(err, store.ErrInvalidName):
		return fmt.Errorf("invalid mailbox name %q", name)
	case errors.Is(err, store.ErrCannot):
		return fmt.Errorf("mailbox %q: %w", name, err)
	}
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
