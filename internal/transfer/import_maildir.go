package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// maildirFolder is one Maildir folder found under the import path.
type maildirFolder struct {
	dir     string
	mailbox string
	files   []maildirFile
}

// maildirFile is one message file.
type maildirFile struct {
	path  string
	base  string // unique name, without info
	info  string
	size  int64
	mtime time.Time
	uid   uint32 // from dovecot-uidlist; 0 when unknown
}

// isMaildir reports whether dir has a cur or new subdirectory.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// findMaildirFolders lists the folders of a Maildir tree: the root (when
// it is a Maildir), Maildir++ folders (".Sub.Folder" directly under the
// root) and plain nested folders ("Sub/Folder" with cur/new inside).
// rootName is the mailbox of the root; the others go below it, or at the
// top level when rootName is "INBOX".
func findMaildirFolders(root, rootName string) ([]*maildirFolder, error) {
	root = filepath.Clean(root)
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", root)
	}
	child := func(levels []string) string {
		for i, l := range levels {
			levels[i] = decodeFolderLevel(l)
		}
		name := strings.Join(levels, "/")
		if rootName == "INBOX" {
			return name
		}
		return rootName + "/" + name
	}
	var folders []*maildirFolder
	if isMaildir(root) {
		folders = append(folders, &maildirFolder{dir: root, mailbox: rootName})
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root || !d.IsDir() {
			return nil
		}
		name := d.Name()
		switch name {
		case "cur", "new", "tmp":
			return filepath.SkipDir
		}
		parent := filepath.Dir(p)
		if strings.HasPrefix(name, ".") {
			// Maildir++ folders live only directly under the root.
			if parent == root && len(name) > 1 && isMaildir(p) {
				folders = append(folders, &maildirFolder{dir: p, mailbox: child(strings.Split(name[1:], "."))})
			}
			return filepath.SkipDir
		}
		if isMaildir(p) {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			folders = append(folders, &maildirFolder{dir: p, mailbox: child(strings.Split(filepath.ToSlash(rel), "/"))})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(folders) == 0 {
		return nil, fmt.Errorf("%s: no Maildir folders found (no cur/ or new/)", root)
	}
	return folders, nil
}

// scan lists the folder's message files with their UIDs and sorts them:
// files with a UID first, ascending (so UIDs can be kept), then the rest
// by date and name.
func (f *maildirFolder) scan(ul *uidList) error {
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(f.dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // renamed away meanwhile
			}
			base, inf := splitMaildirName(e.Name())
			mf := maildirFile{
				path:  filepath.Join(f.dir, sub, e.Name()),
				base:  base,
				info:  inf,
				size:  info.Size(),
				mtime: info.ModTime(),
			}
			if ul != nil {
				mf.uid = ul.UIDs[base]
			}
			f.files = append(f.files, mf)
		}
	}
	sort.Slice(f.files, func(i, j int) bool {
		a, b := f.files[i], f.files[j]
		if (a.uid == 0) != (b.uid == 0) {
			return a.uid != 0
		}
		if a.uid != b.uid {
			return a.uid < b.uid
		}
		da, db := maildirDate(a.mtime, a.base), maildirDate(b.mtime, b.base)
		if !da.Equal(db) {
			return da.Before(db)
		}
		return a.base < b.base
	})
	return nil
}

// importMaildir imports a Maildir tree.
func (im *importer) importMaildir(ctx context.Context) error {
	rootName := canonicalName(im.opts.Mailbox)
	if rootName == "" {
		rootName = "INBOX"
	}
	folders, err := findMaildirFolders(im.opts.Path, rootName)
	if err != nil {
		return err
	}
	uidLists := make([]*uidList, len(folders))
	var totalMsgs, totalBytes int64
	for i, f := range folders {
		uidLists[i] = im.readUIDList(f.dir)
		if err := f.scan(uidLists[i]); err != nil {
			return err
		}
		totalMsgs += int64(len(f.files))
		for _, mf := range f.files {
			totalBytes += mf.size
		}
	}
	im.prog.Start(totalMsgs, totalBytes)
	for i, f := range folders {
		if err := im.importMaildirFolder(ctx, f, uidLists[i]); err != nil {
			return err
		}
	}
	return im.importSubscriptions(ctx, im.opts.Path, rootName)
}

// readUIDList reads a folder's dovecot-uidlist; nil when absent or broken.
func (im *importer) readUIDList(dir string) *uidList {
	file, err := os.Open(filepath.Join(dir, "dovecot-uidlist"))
	if err != nil {
		return nil
	}
	defer file.Close()
	ul, err := parseUIDList(file)
	if err != nil {
		im.log.Warn("ignoring dovecot-uidlist", "dir", dir, "err", err)
		return nil
	}
	return ul
}

func (im *importer) importMaildirFolder(ctx context.Context, f *maildirFolder, ul *uidList) error {
	var keywords []string
	if file, err := os.Open(filepath.Join(f.dir, "dovecot-keywords")); err == nil {
		keywords, err = parseDovecotKeywords(file)
		file.Close()
		if err != nil {
			im.log.Warn("ignoring dovecot-keywords", "dir", f.dir, "err", err)
		}
	}
	t, err := im.target(ctx, f.mailbox, ul)
	if err != nil {
		return err
	}
	im.log.Info("importing maildir folder", "dir", f.dir, "mailbox", t.name, "messages", len(f.files), "keep_uids", t.keepUIDs)
	for _, mf := range f.files {
		if err := im.importMaildirFile(ctx, t, mf, keywords); err != nil {
			return err
		}
		im.prog.Add(1, mf.size)
	}
	return nil
}

func (im *importer) importMaildirFile(ctx context.Context, t *target, mf maildirFile, keywords []string) error {
	file, err := os.Open(mf.path)
	if errors.Is(err, fs.ErrNotExist) {
		// A live Maildir may have renamed it (new flags): look again.
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(mf.path)), "*", globEscape(mf.base)+"*"))
		if len(matches) == 1 {
			file, err = os.Open(matches[0])
			_, mf.info = splitMaildirName(filepath.Base(matches[0]))
		}
	}
	if err != nil {
		im.rep.Failed++
		im.log.Warn("cannot read message", "file", mf.path, "err", err)
		return nil
	}
	defer file.Close()
	flags := parseMaildirInfo(mf.info, keywords)
	return im.add(ctx, t, file, flags, maildirDate(mf.mtime, mf.base), mf.uid, mf.path)
}

// globEscape quotes the glob metacharacters of a file name.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// importSubscriptions applies Dovecot's subscriptions file (or Courier's
// courierimapsubscribed) at the Maildir root.
func (im *importer) importSubscriptions(ctx context.Context, root, rootName string) error {
	var lines [][]string
	if file, err := os.Open(filepath.Join(root, "subscriptions")); err == nil {
		lines, err = parseSubscriptions(file)
		file.Close()
		if err != nil {
			im.log.Warn("ignoring subscriptions", "err", err)
			return nil
		}
	} else if file, err := os.Open(filepath.Join(root, "courierimapsubscribed")); err == nil {
		lines, err = parseCourierSubscriptions(file)
		file.Close()
		if err != nil {
			im.log.Warn("ignoring courierimapsubscribed", "err", err)
			return nil
		}
	} else {
		return nil
	}
	mailboxes, err := im.st.Mailboxes(ctx, im.acct.ID)
	if err != nil {
		return err
	}
	exists := make(map[string]bool, len(mailboxes))
	for _, mb := range mailboxes {
		exists[canonicalName(mb.Name)] = true
	}
	mapName := func(n string) string {
		n = canonicalName(n)
		switch {
		case rootName == "INBOX":
			return n
		case n == "INBOX":
			return rootName
		default:
			return rootName + "/" + n
		}
	}
	for _, cands := range lines {
		name := mapName(cands[0])
		for _, c := range cands {
			if exists[mapName(c)] {
				name = mapName(c)
				break
			}
		}
		if err := im.st.SetSubscribed(ctx, im.acct.ID, name, true); err != nil {
			im.log.Warn("cannot subscribe", "mailbox", name, "err", err)
			continue
		}
		im.rep.Subscribed++
	}
	return nil
}

// parseCourierSubscriptions reads Courier's courierimapsubscribed: one
// "INBOX.Sub.Folder" per line.
func parseCourierSubscriptions(r io.Reader) ([][]string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxSideFile))
	var out [][]string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.EqualFold(line, "INBOX") {
			out = append(out, []string{"INBOX"})
			continue
		}
		line = strings.TrimPrefix(line, "INBOX.")
		levels := strings.Split(line, ".")
		for i, l := range levels {
			levels[i] = decodeFolderLevel(l)
		}
		out = append(out, []string{strings.Join(levels, "/")})
	}
	return out, sc.Err()
}
