package transfer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/postern/postern/internal/store"
)

// exportMaildir writes a Maildir++ tree: the root is INBOX (or
// opts.Mailbox alone), other mailboxes are ".Sub.Folder" folders. Each
// folder gets dovecot-keywords and dovecot-uidlist; the root gets the
// subscriptions file. Message files go through tmp/ into cur/ with their
// flags in the ":2," info and mtime set to the INTERNALDATE.
func (ex *exporter) exportMaildir(ctx context.Context, mailboxes []store.Mailbox) error {
	single := ex.opts.Mailbox != ""
	for _, mb := range mailboxes {
		dir, sub := ex.opts.Path, false
		if !single && maildirPlusPath(mb.Name) != "" {
			dir, sub = filepath.Join(ex.opts.Path, maildirPlusPath(mb.Name)), true
		}
		if err := ex.exportMaildirFolder(ctx, mb, dir, sub); err != nil {
			return err
		}
		ex.rep.Mailboxes++
	}
	if single {
		return nil
	}
	if _, err := os.Stat(ex.opts.Path); err != nil {
		// No INBOX among the mailboxes (never happens): make the root.
		if err := makeMaildir(ex.opts.Path, false); err != nil {
			return err
		}
	}
	subs, err := ex.st.Subscriptions(ctx, ex.acct.ID)
	if err != nil {
		return err
	}
	sort.Strings(subs)
	return writeFile(filepath.Join(ex.opts.Path, "subscriptions"), func(w *bufio.Writer) error {
		return writeSubscriptions(w, subs)
	})
}

// makeMaildir creates dir with cur, new and tmp; a Maildir++ subfolder
// also gets the empty maildirfolder marker.
func makeMaildir(dir string, sub bool) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	if sub {
		return writeFile(filepath.Join(dir, "maildirfolder"), func(*bufio.Writer) error { return nil })
	}
	return nil
}

// writeFile creates path (failing if it exists) with what fn writes.
func writeFile(path string, fn func(*bufio.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := fn(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keywordTable picks the (at most 26) keywords a folder can name: the most
// used ones, numbered in order of first use.
func keywordTable(refs []store.MessageRef) ([]string, map[string]int) {
	type kw struct {
		name         string
		count, first int
	}
	byLower := make(map[string]*kw)
	var all []*kw
	for _, r := range refs {
		for _, f := range r.Flags {
			if strings.HasPrefix(f, `\`) {
				continue
			}
			k := byLower[strings.ToLower(f)]
			if k == nil {
				k = &kw{name: f, first: len(all)}
				byLower[strings.ToLower(f)] = k
				all = append(all, k)
			}
			k.count++
		}
	}
	if len(all) > maxMaildirKeywords {
		sort.SliceStable(all, func(i, j int) bool { return all[i].count > all[j].count })
		all = all[:maxMaildirKeywords]
		sort.Slice(all, func(i, j int) bool { return all[i].first < all[j].first })
	}
	table := make([]string, len(all))
	index := make(map[string]int, len(all))
	for i, k := range all {
		table[i] = k.name
		index[strings.ToLower(k.name)] = i
	}
	return table, index
}

func (ex *exporter) exportMaildirFolder(ctx context.Context, mb store.Mailbox, dir string, sub bool) error {
	refs, err := ex.st.MessageRefs(ctx, ex.acct.ID, mb.ID)
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", mb.Name, err)
	}
	if err := makeMaildir(dir, sub); err != nil {
		return err
	}
	table, index := keywordTable(refs)
	if len(table) > 0 {
		if err := writeFile(filepath.Join(dir, "dovecot-keywords"), func(w *bufio.Writer) error {
			return writeDovecotKeywords(w, table)
		}); err != nil {
			return err
		}
	}
	uids := make(map[string]uint32, len(refs))
	err = ex.eachMessage(ctx, mb, refs, func(m exportMessage) error {
		info, dropped := formatMaildirInfo(m.flags, index)
		ex.rep.KeywordsDropped += int64(dropped)
		if dropped > 0 {
			ex.log.Warn("keywords dropped: a Maildir folder can name 26", "mailbox", mb.Name, "uid", m.uid, "dropped", dropped)
		}
		body, crlf, err := ex.openBody(ctx, m)
		if err != nil {
			return err
		}
		defer body.Close()
		// The name carries the INTERNALDATE (what import reads when mtimes
		// are lost), the UID and UIDVALIDITY (unique in the folder), the
		// file size S= and the RFC822.SIZE W= (as Dovecot writes them).
		stem := fmt.Sprintf("%d.U%dV%d.postern", m.date.Unix(), m.uid, mb.UIDValidity)
		tmpPath := filepath.Join(dir, "tmp", stem)
		var n int64
		if err := writeFile(tmpPath, func(w *bufio.Writer) error {
			var err error
			n, err = copyMessage(w, body, copyOptions{keepCRLF: crlf})
			return err
		}); err != nil {
			os.Remove(tmpPath)
			return err
		}
		base := fmt.Sprintf("%s,S=%d,W=%d", stem, n, m.size)
		final := filepath.Join(dir, "cur", base+":"+info)
		if err := os.Rename(tmpPath, final); err != nil {
			return err
		}
		if err := os.Chtimes(final, m.date, m.date); err != nil {
			return err
		}
		uids[base] = uint32(m.uid)
		ex.rep.Messages++
		ex.rep.Bytes += n
		return nil
	})
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "dovecot-uidlist"), func(w *bufio.Writer) error {
		return writeUIDList(w, mb.UIDValidity, uint32(mb.UIDNext), uids)
	}); err != nil {
		return err
	}
	ex.log.Info("exported mailbox", "mailbox", mb.Name, "dir", dir, "messages", len(refs))
	return nil
}
