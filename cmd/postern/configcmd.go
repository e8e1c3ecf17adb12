package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/config"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print an example configuration or check a configuration file",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	example := &cobra.Command{
		Use:     "example",
		Short:   "Print a complete, commented configuration file with the defaults",
		Example: `  postern config example > /etc/postern/postern.toml`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprint(a.stdout, config.Example())
			return err
		},
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file: syntax, unknown keys, values, certificate files",
		Long: `Check a configuration file without starting anything. Every problem is
reported with its key and line; the exit status is 1 when there is any.`,
		Args: exactArgs(1, "one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err == nil {
				err = cfg.CheckFiles()
			}
			if err != nil {
				var errs []error
				if j, ok := err.(interface{ Unwrap() []error }); ok {
					errs = j.Unwrap()
				} else {
					errs = []error{err}
				}
				for _, e := range errs {
					fmt.Fprintln(a.stderr, e)
				}
				return &exitError{code: 1, err: errors.New("configuration has errors")}
			}
			fmt.Fprintf(a.stdout, "%s: OK\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(example, check)
	return cmd
}
