package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

// demoName is the account `postern serve --demo` creates.
const demoName = "demo"

// demoAccount is what ensureDemo did.
type demoAccount struct {
	name     string
	password string // set only when created
	created  bool
}

// ensureDemo creates the demo account with a generated password and a
// welcome message in its INBOX, unless it exists already.
func ensureDemo(ctx context.Context, st store.Store) (*demoAccount, error) {
	d := &demoAccount{name: demoName}
	if _, err := st.Account(ctx, demoName); err == nil {
		return d, nil
	} else if !errors.Is(err, store.ErrNoAccount) {
		return nil, err
	}
	acct, err := st.CreateAccount(ctx, demoName)
	if err != nil {
		return nil, err
	}
	d.password = generatePassword()
	secrets, err := auth.HashPassword(d.password)
	if err != nil {
		return nil, err
	}
	if err := st.SetSecrets(ctx, acct.ID, secrets); err != nil {
		return nil, err
	}
	if err := deliverWelcome(ctx, st, acct, time.Now()); err != nil {
		return nil, err
	}
	d.created = true
	return d, nil
}

// deliverWelcome stages a welcome message and appends it to INBOX.
func deliverWelcome(ctx context.Context, st store.Store, acct store.Account, now time.Time) error {
	inbox, err := st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		return err
	}
	staged, err := st.Stage(ctx, strings.NewReader(welcomeMessage(acct.Name, now)), 0)
	if err != nil {
		return err
	}
	res, err := st.Append(ctx, []store.AppendRequest{{
		Account: acct.ID, Mailbox: inbox.ID, Message: staged, InternalDate: now,
	}})
	if err != nil {
		return err
	}
	if len(res) == 1 && res[0].Err != nil {
		return res[0].Err
	}
	return nil
}

func welcomeMessage(user string, now time.Time) string {
	lines := []string{
		"From: postern <postmaster@localhost>",
		"To: " + user + "@localhost",
		"Subject: Welcome to postern",
		"Date: " + now.Format(time.RFC1123Z),
		fmt.Sprintf("Message-ID: <welcome.%d@postern.localhost>", now.UnixNano()),
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
		"",
		"Hello " + user + ",",
		"",
		"this message sits in your INBOX on a postern server. You can read it",
		"over IMAP or POP3, and new mail arrives through LMTP:",
		"",
		"  python3 -c \"import smtplib; s=smtplib.LMTP('127.0.0.1', 2424);",
		"    s.sendmail('me@example.org', ['" + user + "@localhost'],",
		"    'Subject: hi\\r\\n\\r\\nhello\\r\\n')\"",
		"",
		"Useful commands:",
		"  postern user add NAME        create an account",
		"  postern import --user NAME --format mbox FILE",
		"  postern config example       a commented configuration file",
		"",
		"-- ",
		"postern",
		"",
	}
	return strings.Join(lines, "\r\n")
}
