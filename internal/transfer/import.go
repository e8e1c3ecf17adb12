package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/postern/postern/internal/store"
)

// Import reads opts.Path in opts.Format into the account's mailboxes (see
// the package comment). Per-message problems are logged and counted in
// ImportReport.Failed; the error is for the import as a whole (no such
// account or path, store failure, ctx canceled), and the report then says
// what was done before it.
func Import(ctx context.Context, st store.Store, opts ImportOptions) (ImportReport, error) {
	im, err := newImporter(ctx, st, opts)
	if err != nil {
		return ImportReport{}, err
	}
	defer im.close()
	switch opts.Format {
	case FormatMbox:
		err = im.importMbox(ctx)
	case FormatMaildir:
		err = im.importMaildir(ctx)
	default:
		err = ErrNoFormat
	}
	if ferr := im.finish(ctx); err == nil {
		err = ferr
	}
	im.prog.Done()
	return im.rep, err
}

// mboxFile is one mbox file and the mailbox it goes to.
type mboxFile struct {
	path, mailbox string
	size          int64
}

// importMbox imports an mbox file or a directory of them.
func (im *importer) importMbox(ctx context.Context) error {
	files, err := findMboxFiles(im.opts.Path, im.opts.Mailbox)
	if err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	im.prog.Start(-1, total)
	for _, f := range files {
		if err := im.importMboxFile(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) importMboxFile(ctx context.Context, f mboxFile) error {
	file, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer file.Close()
	im.log.Info("importing mbox", "file", f.path, "mailbox", f.mailbox)
	// The target is made at the first message: its X-IMAPbase may carry
	// the UIDVALIDITY to keep.
	var t *target
	sp := newMboxSplitter(file, im.opts.MboxVariant)
	var reported int64
	for {
		msg, err := sp.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrNotMbox) {
			im.log.Warn("not an mbox file, skipped", "file", f.path)
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		body, meta, err := readMboxMeta(msg.Body, im.opts.KeepMetaHeaders, msg.contentLengthUsed)
		if err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		if t == nil {
			var ul *uidList
			if meta.uidValidity != 0 {
				ul = &uidList{UIDValidity: meta.uidValidity, NextUID: meta.uidNext}
			}
			if t, err = im.target(ctx, f.mailbox, ul); err != nil {
				return err
			}
		}
		_, date, _ := parseFromLine(msg.From)
		what := fmt.Sprintf("%s at offset %d", f.path, msg.Offset)
		uid := meta.uid
		if !t.keepUIDs {
			uid = 0
		}
		if err := im.add(ctx, t, body, meta.flags, date, uid, what); err != nil {
			return err
		}
		// The splitter has read this message and the next From_ line.
		if _, err := io.Copy(io.Discard, msg.Body); err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		im.prog.Add(1, sp.Consumed()-reported)
		reported = sp.Consumed()
	}
	im.prog.Add(0, f.size-reported)
	if t == nil { // no messages: the mailbox still comes
		if _, err := im.target(ctx, f.mailbox, nil); err != nil {
			return err
		}
	}
	return nil
}

// findMboxFiles lists the mbox files under path: path itself when it is a
// file (going to mailbox, default INBOX), or every file below a directory
// that starts with "From ", named by its path: "Sub/Folder.mbox" and
// Thunderbird's "Sub.sbd/Folder" both become "Sub/Folder" (below mailbox
// when given).
func findMboxFiles(path, mailbox string) ([]mboxFile, error) {
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if mailbox == "" {
			mailbox = "INBOX"
		}
		if fi.Size() > 0 && !looksLikeMbox(path) {
			return nil, fmt.Errorf("%s: %w", path, ErrNotMbox)
		}
		return []mboxFile{{path: path, mailbox: mailbox, size: fi.Size()}}, nil
	}
	var files []mboxFile
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// An empty "Name.mbox" (an exported empty mailbox) still makes
		// its mailbox; other files must look like mbox files.
		if !(info.Size() == 0 && strings.HasSuffix(d.Name(), ".mbox")) && !looksLikeMbox(p) {
			return nil
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		levels := strings.Split(filepath.ToSlash(rel), "/")
		for i := range levels[:len(levels)-1] {
			levels[i] = strings.TrimSuffix(levels[i], ".sbd")
		}
		last := len(levels) - 1
		levels[last] = strings.TrimSuffix(strings.TrimSuffix(levels[last], ".mbox"), ".mbx")
		name := strings.Join(levels, "/")
		if mailbox != "" {
			if strings.EqualFold(name, "INBOX") {
				name = mailbox
			} else {
				name = mailbox + "/" + name
			}
		}
		files = append(files, mboxFile{path: p, mailbox: name, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no mbox files found", path)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mailbox < files[j].mailbox })
	return files, nil
}

// looksLikeMbox reports whether a file starts with "From ".
func looksLikeMbox(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [5]byte
	_, err = io.ReadFull(f, head[:])
	return err == nil && string(head[:]) == "From "
}
