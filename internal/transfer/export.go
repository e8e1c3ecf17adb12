package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// Export writes the account's mailboxes (or opts.Mailbox) to opts.Path in
// opts.Format (see the package comment). Path must not exist (an empty
// directory is accepted); export never overwrites files.
func Export(ctx context.Context, st store.Store, opts ExportOptions) (ExportReport, error) {
	ex := &exporter{st: st, opts: opts, log: logger(opts.Logger), prog: opts.Progress}
	if ex.prog == nil {
		ex.prog = nopProgress{}
	}
	err := ex.run(ctx)
	ex.prog.Done()
	return ex.rep, err
}

// exporter is one run of Export; one goroutine uses it.
type exporter struct {
	st   store.Store
	opts ExportOptions
	log  *slog.Logger
	prog Progress
	acct store.Account
	rep  ExportReport
}

// exportMessage is what export needs of one message.
type exportMessage struct {
	uid    store.UID
	flags  []string
	date   time.Time
	size   int64
	blobID string
	sender string
}

func (ex *exporter) run(ctx context.Context) error {
	if ex.opts.Format != FormatMbox && ex.opts.Format != FormatMaildir {
		return ErrNoFormat
	}
	acct, err := ex.st.Account(ctx, ex.opts.Account)
	if err != nil {
		return fmt.Errorf("account %q: %w", ex.opts.Account, err)
	}
	ex.acct = acct
	var mailboxes []store.Mailbox
	if ex.opts.Mailbox != "" {
		mb, err := ex.st.Mailbox(ctx, acct.ID, ex.opts.Mailbox)
		if err != nil {
			return fmt.Errorf("mailbox %q: %w", ex.opts.Mailbox, err)
		}
		mailboxes = []store.Mailbox{mb}
	} else {
		mailboxes, err = ex.st.Mailboxes(ctx, acct.ID)
		if err != nil {
			return err
		}
		sort.Slice(mailboxes, func(i, j int) bool { return mailboxes[i].Name < mailboxes[j].Name })
	}
	var totalMsgs, totalBytes int64
	for _, mb := range mailboxes {
		stt, err := ex.st.Status(ctx, acct.ID, mb.ID)
		if err != nil {
			return fmt.Errorf("mailbox %q: %w", mb.Name, err)
		}
		totalMsgs += stt.Messages
		totalBytes += stt.Size
	}
	if err := checkFresh(ex.opts.Path); err != nil {
		return err
	}
	ex.prog.Start(totalMsgs, totalBytes)
	if ex.opts.Format == FormatMbox {
		return ex.exportMbox(ctx, mailboxes)
	}
	return ex.exportMaildir(ctx, mailboxes)
}

// checkFresh fails unless path does not exist or is an empty directory.
func checkFresh(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrPathExist, path)
}

// eachMessage calls fn for every message of mb in UID order, in chunks so
// no store iteration is open while fn writes files.
func (ex *exporter) eachMessage(ctx context.Context, mb store.Mailbox, refs []store.MessageRef, fn func(exportMessage) error) error {
	const chunk = 256
	wantSender := ex.opts.Format == FormatMbox
	for i := 0; i < len(refs); i += chunk {
		uids := make([]store.UID, 0, chunk)
		for _, r := range refs[i:min(i+chunk, len(refs))] {
			uids = append(uids, r.UID)
		}
		var msgs []exportMessage
		err := ex.st.Fetch(ctx, ex.acct.ID, mb.ID, uids, store.FetchOptions{Headers: wantSender}, func(m *store.Message) error {
			em := exportMessage{uid: m.UID, flags: m.Flags, date: m.InternalDate, size: m.Size, blobID: m.BlobID}
			if wantSender {
				em.sender = envelopeSender(m.Headers.From)
			}
			msgs = append(msgs, em)
			return nil
		})
		if err != nil {
			return fmt.Errorf("mailbox %q: %w", mb.Name, err)
		}
		for _, m := range msgs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(m); err != nil {
				return err
			}
			ex.prog.Add(1, m.size)
		}
	}
	return nil
}

// envelopeSender picks the address for a From_ line from a From field.
func envelopeSender(from string) string {
	if from == "" {
		return ""
	}
	if addrs, err := mail.ParseAddressList(from); err == nil && len(addrs) > 0 {
		return addrs[0].Address
	}
	if i := strings.IndexByte(from, '<'); i >= 0 {
		if j := strings.IndexByte(from[i:], '>'); j > 1 {
			return from[i+1 : i+j]
		}
	}
	return ""
}

// openBody opens a message's bytes and says whether they must keep CRLF.
func (ex *exporter) openBody(ctx context.Context, m exportMessage) (store.Body, bool, error) {
	body, err := ex.st.OpenBody(ctx, m.blobID)
	if err != nil {
		return nil, false, fmt.Errorf("message uid %d: %w", m.uid, err)
	}
	crlf, err := needsCRLF(body, body.Size())
	if err != nil {
		body.Close()
		return nil, false, fmt.Errorf("message uid %d: %w", m.uid, err)
	}
	return body, crlf, nil
}

// exportMbox writes one mbox file (with opts.Mailbox) or a directory with
// one "Name.mbox" file per mailbox.
func (ex *exporter) exportMbox(ctx context.Context, mailboxes []store.Mailbox) error {
	single := ex.opts.Mailbox != ""
	for _, mb := range mailboxes {
		path := ex.opts.Path
		if !single {
			levels := strings.Split(mb.Name, "/")
			for i, l := range levels {
				levels[i] = safeFileName(l)
			}
			path = filepath.Join(ex.opts.Path, filepath.Join(levels...)+".mbox")
		}
		if err := ex.exportMboxFile(ctx, mb, path); err != nil {
			return err
		}
		ex.rep.Mailboxes++
	}
	return nil
}

// safeFileName keeps a mailbox level usable as a file name.
func safeFileName(s string) string {
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") {
		return "_" + s
	}
	return strings.ReplaceAll(s, "\x00", "_")
}

// mboxIMAPBase is the X-IMAPbase value for a mailbox's first message:
// UIDVALIDITY, UIDNEXT (ten digits, as Dovecot writes it) and every keyword
// in use, since Dovecot reads only keywords listed there.
func mboxIMAPBase(mb store.Mailbox, refs []store.MessageRef) string {
	base := fmt.Sprintf("%d %010d", mb.UIDValidity, mb.UIDNext)
	seen := make(map[string]bool)
	for _, r := range refs {
		for _, f := range r.Flags {
			if !strings.HasPrefix(f, `\`) && !seen[strings.ToLower(f)] {
				seen[strings.ToLower(f)] = true
				base += " " + f
			}
		}
	}
	return base
}

func (ex *exporter) exportMboxFile(ctx context.Context, mb store.Mailbox, path string) error {
	refs, err := ex.st.MessageRefs(ctx, ex.acct.ID, mb.ID)
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", mb.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	mw := newMboxWriter(tmp)
	imapBase := mboxIMAPBase(mb, refs)
	err = ex.eachMessage(ctx, mb, refs, func(m exportMessage) error {
		body, crlf, err := ex.openBody(ctx, m)
		if err != nil {
			return err
		}
		defer body.Close()
		eol := "\n"
		if crlf {
			eol = "\r\n"
		}
		n, err := mw.writeMessage(m.sender, m.date, mboxMetaLines(m.flags, eol, m.uid, imapBase), body, crlf)
		imapBase = "" // first message only
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		ex.rep.Messages++
		ex.rep.Bytes += n
		return nil
	})
	if err != nil {
		return err
	}
	if err := mw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Never replace a file that appeared meanwhile.
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrPathExist, path)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ex.log.Info("exported mailbox", "mailbox", mb.Name, "file", path, "messages", len(refs))
	return nil
}
