package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/postern/postern/internal/store"
)

// ErrBadData: the input is not a message (empty, or over the size limit).
var ErrBadData = errors.New("bad message data")

// Exit codes of `postern deliver` (sysexits.h), which an MTA reads as: 0
// delivered, 75 try again later, anything else bounce.
const (
	ExitOK         = 0
	ExitUsage      = 64 // EX_USAGE: bad arguments (invalid mailbox name)
	ExitDataErr    = 65 // EX_DATAERR: input is not an acceptable message
	ExitNoUser     = 67 // EX_NOUSER: no such account
	ExitCantCreate = 73 // EX_CANTCREAT: mailbox full (over quota)
	ExitTempFail   = 75 // EX_TEMPFAIL: anything that may work later
)

// ExitCode maps an error of DeliverLocal to the exit status of `postern
// deliver`. Unknown errors are temporary, so the MTA keeps the message
// queued rather than bouncing it.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrUnknownUser), errors.Is(err, store.ErrNoAccount):
		return ExitNoUser
	case errors.Is(err, ErrBadData), errors.Is(err, store.ErrTooLarge):
		return ExitDataErr
	case errors.Is(err, store.ErrOverQuota):
		return ExitCantCreate
	case errors.Is(err, store.ErrInvalidName):
		return ExitUsage
	default:
		return ExitTempFail
	}
}

// LocalOptions tune DeliverLocal. The zero value delivers to the named
// mailbox (INBOX when empty) with a Delivered-To of the user name.
type LocalOptions struct {
	// Sender is the envelope sender written as Return-Path. Empty means
	// unknown: the sender of a leading mbox "From " line is used, else no
	// Return-Path is written. Use "<>" for the null sender.
	Sender string
	// Recipient is written as Delivered-To; default the user argument.
	Recipient string
	// MaxSize bounds the message (default DefaultMaxMessageSize).
	MaxSize int64
	// Flags are set on the new message (e.g. \Seen).
	Flags []string
	// CreateMailbox creates a missing mailbox instead of falling back to
	// INBOX.
	CreateMailbox bool
	// IgnoreQuota delivers even to a full account.
	IgnoreQuota bool
}

// DeliverLocal stores the message read from r into mailbox ("" = INBOX)
// of user, the local delivery agent behind `postern deliver`. user may
// carry a +detail, as in LMTP. When mailbox does not exist (or its name is
// invalid or it cannot hold mail) the message goes to INBOX instead, as
// dovecot-lda does, unless CreateMailbox is set. A leading mbox "From "
// envelope line, as some MTAs and procmail pass it, is removed.
//
// It returns when the message is durable. Errors: ErrUnknownUser,
// ErrBadData, store.ErrOverQuota and store.ErrTooLarge as named; anything
// else is temporary. ExitCode maps them. Safe for concurrent use.
func DeliverLocal(ctx context.Context, st store.Store, user, mailbox string, r io.Reader, opts LocalOptions) (store.AppendResult, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxMessageSize
	}
	local, domain := splitAddress(strings.TrimSpace(user))
	acct, err := findAccount(ctx, st, local, domain)
	if err != nil {
		return store.AppendResult{}, err
	}
	mb, err := localMailbox(ctx, st, acct.ID, mailbox, opts.CreateMailbox)
	if err != nil {
		return store.AppendResult{}, err
	}
	if !opts.IgnoreQuota {
		if err := checkQuota(ctx, st, acct, 0); err != nil {
			return store.AppendResult{}, err
		}
	}

	br := bufio.NewReader(r)
	sender, withReturnPath := opts.Sender, opts.Sender != ""
	if envSender, ok, err := skipFromLine(br); err != nil {
		return store.AppendResult{}, fmt.Errorf("reading message: %w", err)
	} else if ok && !withReturnPath {
		sender, withReturnPath = envSender, true
	}
	if first, err := br.Peek(1); len(first) == 0 {
		if err != nil && err != io.EOF {
			return store.AppendResult{}, fmt.Errorf("reading message: %w", err)
		}
		return store.AppendResult{}, fmt.Errorf("%w: empty message", ErrBadData)
	}
	if sender == "<>" {
		sender = ""
	}
	rcpt := opts.Recipient
	if rcpt == "" {
		rcpt = user
	}
	env := envelope{
		sender:         sender,
		withReturnPath: withReturnPath,
		targets: []target{{
			account:     acct.ID,
			mailbox:     mb.ID,
			deliveredTo: rcpt,
			flags:       opts.Flags,
			ignoreQuota: opts.IgnoreQuota,
		}},
	}
	results, errs, err := deliverEnvelope(ctx, st, env, br, opts.MaxSize, "")
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) && errors.Is(err, store.ErrTooLarge) {
			return store.AppendResult{}, fmt.Errorf("%w: %w", ErrBadData, err)
		}
		return store.AppendResult{}, err
	}
	if errs[0] != nil {
		return results[0], errs[0]
	}
	return results[0], nil
}

// localMailbox finds the delivery mailbox, creating it or falling back to
// INBOX as DeliverLocal documents.
func localMailbox(ctx context.Context, st store.Store, acct store.AccountID, name string, create bool) (store.Mailbox, error) {
	if name == "" || strings.EqualFold(name, "INBOX") {
		return st.Mailbox(ctx, acct, "INBOX")
	}
	mb, err := st.Mailbox(ctx, acct, name)
	if err == nil {
		return mb, nil
	}
	if create && errors.Is(err, store.ErrNoMailbox) {
		mb, err = st.CreateMailbox(ctx, acct, name, "")
		if err == nil || errors.Is(err, store.ErrMailboxExists) {
			if err != nil { // created concurrently
				mb, err = st.Mailbox(ctx, acct, name)
			}
			return mb, err
		}
		return store.Mailbox{}, err
	}
	if errors.Is(err, store.ErrNoMailbox) || errors.Is(err, store.ErrInvalidName) || errors.Is(err, store.ErrNotSelectable) {
		return st.Mailbox(ctx, acct, "INBOX")
	}
	return store.Mailbox{}, err
}

// skipFromLine consumes a leading mbox "From sender date" line and returns
// its sender ("MAILER-DAEMON" means the null sender).
func skipFromLine(br *bufio.Reader) (string, bool, error) {
	head, _ := br.Peek(5)
	if !bytes.Equal(head, []byte("From ")) {
		return "", false, nil
	}
	line, err := br.ReadSlice('\n')
	line = append([]byte(nil), line...)
	if err == bufio.ErrBufferFull {
		// An absurdly long envelope line: drop the rest of it too.
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n')
		}
	}
	if err != nil && err != io.EOF {
		return "", false, err
	}
	fields := strings.Fields(string(line[5:]))
	sender := ""
	if len(fields) > 0 {
		sender = fields[0]
	}
	if strings.EqualFold(sender, "MAILER-DAEMON") {
		sender = ""
	}
	return strings.Trim(sender, "<>"), true, nil
}
