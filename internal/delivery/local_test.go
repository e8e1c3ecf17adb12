package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-smtp"

	"github.com/postern/postern/internal/store"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{ErrUnknownUser, 67},
		{fmt.Errorf("%w: %q", ErrUnknownUser, "x"), 67},
		{store.ErrNoAccount, 67},
		{ErrBadData, 65},
		{fmt.Errorf("%w: empty message", ErrBadData), 65},
		{store.ErrTooLarge, 65},
		{&bodyError{store.ErrTooLarge}, 65},
		{store.ErrOverQuota, 73},
		{fmt.Errorf("append: %w", store.ErrOverQuota), 73},
		{store.ErrInvalidName, 64},
		{store.ErrTemporary, 75},
		{store.ErrNoMailbox, 75},
		{context.Canceled, 75},
		{context.DeadlineExceeded, 75},
		{io.ErrUnexpectedEOF, 75},
		{errors.New("disk on fire"), 75},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestReplyFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err      error
		smtpMode bool
		code     int
		enhanced smtp.EnhancedCode
	}{
		{errForeignDomain, false, 550, smtp.EnhancedCode{5, 1, 2}},
		{errForeignDomain, true, 550, smtp.EnhancedCode{5, 7, 1}},
		{fmt.Errorf("%w: %q", ErrUnknownUser, "x"), false, 550, smtp.EnhancedCode{5, 1, 1}},
		{ErrUnknownUser, true, 550, smtp.EnhancedCode{5, 1, 1}},
		{store.ErrNoAccount, false, 550, smtp.EnhancedCode{5, 1, 1}},
		{store.ErrOverQuota, false, 552, smtp.EnhancedCode{5, 2, 2}},
		{fmt.Errorf("append: %w", store.ErrOverQuota), true, 552, smtp.EnhancedCode{5, 2, 2}},
		{store.ErrTooLarge, false, 552, smtp.EnhancedCode{5, 3, 4}},
		{&bodyError{store.ErrTooLarge}, false, 552, smtp.EnhancedCode{5, 3, 4}},
		{&bodyError{smtp.ErrDataTooLarge}, false, 552, smtp.EnhancedCode{5, 3, 4}},
		{&bodyError{smtp.ErrTooLongLine}, false, 554, smtp.EnhancedCode{5, 6, 0}},
		{&bodyError{io.ErrUnexpectedEOF}, false, 451, smtp.EnhancedCode{4, 3, 0}},
		{&bodyError{smtp.ErrDataReset}, false, 451, smtp.EnhancedCode{4, 3, 0}},
		{store.ErrTemporary, false, 451, smtp.EnhancedCode{4, 3, 0}},
		{store.ErrNoMailbox, false, 451, smtp.EnhancedCode{4, 3, 0}},
		{context.Canceled, true, 451, smtp.EnhancedCode{4, 3, 0}},
		{errors.New("database is locked"), false, 451, smtp.EnhancedCode{4, 3, 0}},
		{replyShutdown, false, 421, smtp.EnhancedCode{4, 3, 2}},
		{replyBadAddress, false, 553, smtp.EnhancedCode{5, 1, 3}},
	}
	for _, tt := range tests {
		got := replyFor(tt.err, tt.smtpMode)
		if got == nil || got.Code != tt.code || got.EnhancedCode != tt.enhanced {
			t.Errorf("replyFor(%v, smtp=%v) = %+v, want %d %v", tt.err, tt.smtpMode, got, tt.code, tt.enhanced)
		}
		// Client-visible text never carries the internal error.
		if got != nil && strings.Contains(got.Message, "locked") {
			t.Errorf("reply leaks detail: %q", got.Message)
		}
	}
	if replyFor(nil, false) != nil {
		t.Error("replyFor(nil) is not nil")
	}
}

func TestDeliverLocal(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	ctx := context.Background()
	for _, a := range []string{"ann", "bob"} {
		if _, err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	msg := "Subject: local\r\n\r\nbody\r\n"

	t.Run("inbox", func(t *testing.T) {
		res, err := DeliverLocal(ctx, st, "ann", "", strings.NewReader(msg), LocalOptions{Sender: "s@example.net"})
		if err != nil || res.UID != 1 || res.UIDValidity == 0 {
			t.Fatalf("DeliverLocal = %+v, %v", res, err)
		}
		acct, mb := inboxOf(t, st, "ann")
		_, bodies := messages(t, st, acct.ID, mb.ID)
		want := "Return-Path: <s@example.net>\r\nDelivered-To: ann\r\n" + msg
		if len(bodies) != 1 || string(bodies[0]) != want {
			t.Fatalf("stored %q, want %q", bodies, want)
		}
	})

	t.Run("mbox From line, plus address, flags, LF", func(t *testing.T) {
		in := "From MAILER-DAEMON Wed Nov 25 21:00:00 2026\nSubject: bounce\n\nsorry\n"
		res, err := DeliverLocal(ctx, st, "Bob+Alerts", "inbox", strings.NewReader(in), LocalOptions{Recipient: "bob+alerts@example.org", Flags: []string{store.FlagSeen}})
		if err != nil {
			t.Fatalf("DeliverLocal: %v", err)
		}
		acct, mb := inboxOf(t, st, "bob")
		var got *store.Message
		st.Fetch(ctx, acct.ID, mb.ID, []store.UID{res.UID}, store.FetchOptions{}, func(m *store.Message) error { got = m; return nil })
		if got == nil || len(got.Flags) != 1 || got.Flags[0] != store.FlagSeen {
			t.Fatalf("message flags %+v", got)
		}
		_, bodies := messages(t, st, acct.ID, mb.ID)
		want := "Return-Path: <>\r\nDelivered-To: bob+alerts@example.org\r\nSubject: bounce\r\n\r\nsorry\r\n"
		if len(bodies) != 1 || string(bodies[0]) != want {
			t.Fatalf("stored %q, want %q", bodies, want)
		}
	})

	t.Run("named mailbox, fallback and create", func(t *testing.T) {
		acct, _ := inboxOf(t, st, "ann")
		sent, err := st.Mailbox(ctx, acct.ID, "Sent")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DeliverLocal(ctx, st, "ann", "Sent", strings.NewReader(msg), LocalOptions{}); err != nil {
			t.Fatal(err)
		}
		if uids, bodies := messages(t, st, acct.ID, sent.ID); len(uids) != 1 || string(bodies[0]) != "Delivered-To: ann\r\n"+msg {
			t.Fatalf("Sent holds %q", bodies)
		}
		// Missing mailbox: INBOX instead.
		res, err := DeliverLocal(ctx, st, "ann", "No/Such", strings.NewReader(msg), LocalOptions{})
		if err != nil || res.UID != 2 {
			t.Fatalf("fallback to INBOX: %+v, %v", res, err)
		}
		if _, err := st.Mailbox(ctx, acct.ID, "No/Such"); !errors.Is(err, store.ErrNoMailbox) {
			t.Fatalf("fallback created the mailbox: %v", err)
		}
		// CreateMailbox makes it.
		if _, err := DeliverLocal(ctx, st, "ann", "Lists/Go", strings.NewReader(msg), LocalOptions{CreateMailbox: true}); err != nil {
			t.Fatal(err)
		}
		lists, err := st.Mailbox(ctx, acct.ID, "Lists/Go")
		if err != nil {
			t.Fatalf("mailbox not created: %v", err)
		}
		if uids, _ := messages(t, st, acct.ID, lists.ID); len(uids) != 1 {
			t.Fatalf("Lists/Go has %d messages", len(uids))
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := DeliverLocal(ctx, st, "nobody", "", strings.NewReader(msg), LocalOptions{})
		if !errors.Is(err, ErrUnknownUser) || ExitCode(err) != 67 {
			t.Errorf("unknown user: %v (exit %d)", err, ExitCode(err))
		}
		_, err = DeliverLocal(ctx, st, "ann", "", strings.NewReader(""), LocalOptions{})
		if !errors.Is(err, ErrBadData) || ExitCode(err) != 65 {
			t.Errorf("empty input: %v (exit %d)", err, ExitCode(err))
		}
		_, err = DeliverLocal(ctx, st, "ann", "", strings.NewReader("From x@y Thu Jan  1 00:00:00 1970\n"), LocalOptions{})
		if !errors.Is(err, ErrBadData) {
			t.Errorf("From line only: %v", err)
		}
		_, err = DeliverLocal(ctx, st, "ann", "", strings.NewReader(strings.Repeat("x", 5000)), LocalOptions{MaxSize: 1000})
		if !errors.Is(err, ErrBadData) || ExitCode(err) != 65 {
			t.Errorf("too large: %v (exit %d)", err, ExitCode(err))
		}
		_, err = DeliverLocal(ctx, st, "ann", "", iotest.ErrReader(io.ErrClosedPipe), LocalOptions{})
		if err == nil || ExitCode(err) != 75 {
			t.Errorf("read error: %v (exit %d)", err, ExitCode(err))
		}
		_, err = DeliverLocal(ctx, st, "ann", "", io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), iotest.ErrReader(io.ErrClosedPipe)), LocalOptions{})
		if err == nil || ExitCode(err) != 75 {
			t.Errorf("read error mid-message: %v (exit %d)", err, ExitCode(err))
		}
	})

	t.Run("quota", func(t *testing.T) {
		acct, mb := inboxOf(t, st, "bob")
		before, _ := messages(t, st, acct.ID, mb.ID)
		if err := st.SetQuota(ctx, acct.ID, store.Quota{Messages: int64(len(before))}); err != nil {
			t.Fatal(err)
		}
		_, err := DeliverLocal(ctx, st, "bob", "", strings.NewReader(msg), LocalOptions{})
		if !errors.Is(err, store.ErrOverQuota) || ExitCode(err) != 73 {
			t.Fatalf("over quota: %v (exit %d)", err, ExitCode(err))
		}
		if _, err := DeliverLocal(ctx, st, "bob", "", strings.NewReader(msg), LocalOptions{IgnoreQuota: true}); err != nil {
			t.Fatalf("IgnoreQuota: %v", err)
		}
		// A byte quota checked only at Append (the message is bigger
		// than what is left).
		usage, _ := st.Usage(ctx, acct.ID)
		if err := st.SetQuota(ctx, acct.ID, store.Quota{StorageBytes: usage.StorageBytes + 10}); err != nil {
			t.Fatal(err)
		}
		_, err = DeliverLocal(ctx, st, "bob", "", strings.NewReader(msg), LocalOptions{})
		if !errors.Is(err, store.ErrOverQuota) || ExitCode(err) != 73 {
			t.Fatalf("over byte quota at Append: %v (exit %d)", err, ExitCode(err))
		}
	})
}
