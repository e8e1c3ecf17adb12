package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/config"
	"github.com/postern/postern/internal/store"
)

// maxPasswdLine bounds one line of a passwd-file; Dovecot's lines are far
// shorter, and a longer one is a wrong file.
const maxPasswdLine = 64 << 10

// passwdEntry is one account line of a passwd-file.
type passwdEntry struct {
	line    int
	user    string
	secrets map[string]string
}

func (a *app) userImportPasswdCommand() *cobra.Command {
	var skipBad bool
	cmd := &cobra.Command{
		Use:   "import-passwd FILE",
		Short: "Create or update accounts from a Dovecot passwd-file",
		Long: `Read a Dovecot passwd-file ("user:{SCHEME}hash:uid:gid:gecos:home:shell:extra",
one account a line; "-" reads standard input) and create each account that
does not exist yet, or replace the password of one that does.

Hashes are kept as they are ({SHA512-CRYPT}, {BLF-CRYPT}, {SSHA512},
{ARGON2ID}, ... and crypt strings without a scheme); each is replaced by
argon2id and SCRAM keys at the account's first successful login. {PLAIN}
passwords are hashed at once. Only the first two fields are read.

The whole file is checked first: if any line is wrong, every wrong line is
reported by its number and nothing is changed, unless --skip-bad imports the
good lines and only reports the wrong ones.`,
		Example: `  postern user import-passwd /etc/dovecot/users`,
		Args:    exactArgs(1, "one passwd FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, skipped, bad, err := a.readPasswdFile(args[0])
			if err != nil {
				return err
			}
			if len(bad) > 0 {
				if !skipBad {
					return fmt.Errorf("%d bad lines, nothing imported (--skip-bad imports the others):\n%w", len(bad), errors.Join(bad...))
				}
				for _, e := range bad {
					fmt.Fprintf(a.stderr, "skipped: %v\n", e)
				}
			}
			return a.withStore(cmd.Context(), func(_ config.Config, st store.Store) error {
				created, updated, err := importPasswdEntries(cmd.Context(), st, args[0], entries)
				fmt.Fprintf(a.stdout, "%d accounts created, %d updated, %d bad lines skipped, %d blank or comment lines\n", created, updated, len(bad), skipped)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&skipBad, "skip-bad", false, "import the good lines of a file that has bad ones (each bad line is still reported)")
	return cmd
}

// readPasswdFile parses every line of path ("-" is stdin). skipped counts
// blank and comment lines; bad holds one error per wrong line, naming the
// file and line. err is an unreadable file.
func (a *app) readPasswdFile(path string) (entries []passwdEntry, skipped int, bad []error, err error) {
	var r io.Reader = a.stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, nil, err
		}
		defer f.Close()
		r, name = f, path
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxPasswdLine)
	first := make(map[string]int)
	n := 0
	for sc.Scan() {
		n++
		user, secrets, lerr := auth.ImportPasswdLine(sc.Text())
		switch {
		case lerr != nil:
			bad = append(bad, fmt.Errorf("%s:%d: %w", name, n, lerr))
		case user == "":
			skipped++
		default:
			key := strings.ToLower(user)
			if at, dup := first[key]; dup {
				bad = append(bad, fmt.Errorf("%s:%d: user %q already appears on line %d", name, n, user, at))
				continue
			}
			first[key] = n
			entries = append(entries, passwdEntry{line: n, user: user, secrets: secrets})
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", maxPasswdLine)
		}
		return nil, 0, nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return entries, skipped, bad, nil
}

// importPasswdEntries stores the entries: a new account for an unknown
// name, new credential records (replacing the old ones) for a known one.
// It stops at the first store error, naming the line.
func importPasswdEntries(ctx context.Context, st store.Store, name string, entries []passwdEntry) (created, updated int, err error) {
	for _, e := range entries {
		acct, err := st.Account(ctx, e.user)
		isNew := false
		if errors.Is(err, store.ErrNoAccount) {
			acct, err = st.CreateAccount(ctx, e.user)
			isNew = true
		}
		if err != nil {
			return created, updated, fmt.Errorf("%s:%d: user %q: %w", name, e.line, e.user, err)
		}
		if err := st.SetSecrets(ctx, acct.ID, e.secrets); err != nil {
			if isNew {
				_ = st.DeleteAccount(ctx, acct.Name)
			}
			return created, updated, fmt.Errorf("%s:%d: user %q: %w", name, e.line, e.user, err)
		}
		if isNew {
			created++
		} else {
			updated++
		}
	}
	return created, updated, nil
}
