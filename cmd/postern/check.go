package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
)

func (a *app) checkCommand() *cobra.Command {
	var repair bool
	cmd := &cobra.Command{
		Use:   "check [--repair]",
		Short: "Check the store's consistency (and repair it)",
		Long: `Verify the store's invariants: every message's body exists and matches its
hash, UIDs and mod-sequences are in order, counters agree, no blob is left
unreferenced. With --repair, fix what can be fixed (collect unreferenced
blobs, recompute counters, ...). Safe beside a running server.

Exit status: 0 when the store is (now) clean, 1 when problems remain.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(_ config.Config, st store.Store) error {
				rep, err := st.Check(cmd.Context(), repair)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "checked %d accounts, %d mailboxes, %d messages, %d blobs\n",
					rep.Accounts, rep.Mailboxes, rep.Messages, rep.Blobs)
				for _, r := range rep.Repaired {
					fmt.Fprintf(a.stdout, "repaired: %s\n", r)
				}
				for _, p := range rep.Problems {
					fmt.Fprintf(a.stdout, "problem: %s\n", p)
				}
				if len(rep.Problems) > 0 {
					hint := ""
					if !repair {
						hint = "; run 'postern check --repair' to fix what can be fixed"
					}
					return &exitError{code: 1, err: fmt.Errorf("%s found%s", plural(len(rep.Problems), "problem"), hint)}
				}
				fmt.Fprintln(a.stdout, "no problems found")
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "fix what can be fixed")
	return cmd
}
