package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/postern/postern/internal/message"
	"github.com/postern/postern/internal/store"
)

// UIDPreserver is an optional capability of a store.Store: keeping the
// UIDVALIDITY and UIDs a mailbox had on another server, so IMAP clients
// moved from Dovecot keep their caches instead of downloading everything
// again. Import uses it when the store implements it, in this order per
// mailbox: ImportMailbox, AppendWithUIDs for the messages with known UIDs
// (ascending), RaiseUIDNext to the old server's UIDNEXT, then plain Append
// for messages without a UID (so they never get a UID the old server had
// already handed out).
type UIDPreserver interface {
	// ImportMailbox returns mailbox name of account with UIDVALIDITY
	// uidValidity, creating it (and missing parents) when needed. An
	// existing mailbox qualifies when it has never held a message (UIDNEXT
	// 1; its UIDVALIDITY is then replaced) or already has uidValidity;
	// otherwise ImportMailbox fails with store.ErrMailboxExists.
	ImportMailbox(ctx context.Context, account store.AccountID, name string, uidValidity uint32) (store.Mailbox, error)
	// AppendWithUIDs is Append where reqs[i] gets UID uids[i]. Within one
	// mailbox the UIDs are ascending and at least the mailbox's UIDNEXT;
	// UIDNEXT becomes the highest UID + 1. A request whose UID is too low
	// fails alone, in its AppendResult.Err.
	AppendWithUIDs(ctx context.Context, reqs []store.AppendRequest, uids []store.UID) ([]store.AppendResult, error)
	// RaiseUIDNext sets the mailbox's UIDNEXT to uidNext when that is
	// higher; it never lowers it.
	RaiseUIDNext(ctx context.Context, account store.AccountID, mailbox store.MailboxID, uidNext store.UID) error
}

// spoolMemory is how much of one message import keeps in memory; the rest
// goes to a temporary file.
const spoolMemory = 4 << 20

// Batches of appends share one durable commit.
const (
	batchMessages = 64
	batchBytes    = 32 << 20
)

// importer is the format-independent half of an import: mailbox targets,
// duplicate detection, staging and batched appends. One goroutine uses it.
type importer struct {
	st      store.Store
	acct    store.Account
	opts    ImportOptions
	log     *slog.Logger
	rep     ImportReport
	prog    Progress
	maxSize int64
	targets map[string]*target
	// inflight are the messages being staged, oldest first; spools are
	// all spools made, free those not in use.
	inflight     []*stageJob
	spools, free []*spool
}

// target is one mailbox being imported into.
type target struct {
	name string
	mb   store.Mailbox
	// existing counts the messages of each blob id the mailbox held
	// before the import; seen counts those the source has offered.
	existing map[string]int
	seen     map[string]int
	// keepUIDs: append through UIDPreserver; minUID is the lowest UID the
	// next such append may use.
	keepUIDs bool
	minUID   store.UID
	// oldUIDNext is the old server's UIDNEXT, set on the mailbox
	// (raised) before the first message without a known UID.
	oldUIDNext store.UID
	raised     bool

	queue []queued
	bytes int64
}

type queued struct {
	req store.AppendRequest
	uid store.UID // 0: the store picks
}

func newImporter(ctx context.Context, st store.Store, opts ImportOptions) (*importer, error) {
	acct, err := st.Account(ctx, opts.Account)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", opts.Account, err)
	}
	im := &importer{
		st:      st,
		acct:    acct,
		opts:    opts,
		log:     logger(opts.Logger),
		prog:    opts.Progress,
		maxSize: opts.MaxMessageSize,
		targets: make(map[string]*target),
	}
	if im.prog == nil {
		im.prog = nopProgress{}
	}
	if im.maxSize <= 0 {
		im.maxSize = defaultMaxMessageSize
	}
	return im, nil
}

// close ends the staging goroutines and removes the spool files; it
// appends nothing (finish does).
func (im *importer) close() {
	im.wait()
	for _, sp := range im.spools {
		sp.close()
	}
}

// canonicalName maps any spelling of INBOX to "INBOX".
func canonicalName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX" + name[5:]
	}
	return name
}

// target returns the import target for mailbox name, creating the mailbox
// when needed. With ul (a dovecot-uidlist) and a UIDPreserver store the
// mailbox keeps ul's UIDVALIDITY.
func (im *importer) target(ctx context.Context, name string, ul *uidList) (*target, error) {
	name = canonicalName(name)
	if t, ok := im.targets[name]; ok {
		return t, nil
	}
	t := &target{name: name, existing: make(map[string]int), seen: make(map[string]int)}
	mb, err := im.st.Mailbox(ctx, im.acct.ID, name)
	created := false
	if errors.Is(err, store.ErrNoMailbox) && ul == nil {
		mb, err = im.st.CreateMailbox(ctx, im.acct.ID, name, "")
		created = err == nil
	}
	if ul != nil {
		if up, ok := im.st.(UIDPreserver); ok {
			isNew := errors.Is(err, store.ErrNoMailbox)
			kmb, kerr := up.ImportMailbox(ctx, im.acct.ID, name, ul.UIDValidity)
			if kerr == nil && kmb.UIDValidity == ul.UIDValidity {
				mb, err, t.keepUIDs, created = kmb, nil, true, isNew
				t.oldUIDNext = store.UID(ul.NextUID)
				im.rep.UIDsKept = append(im.rep.UIDsKept, name)
			} else {
				im.log.Info("cannot keep UIDs", "mailbox", name, "uidvalidity", ul.UIDValidity, "err", kerr)
			}
		}
		if err != nil && errors.Is(err, store.ErrNoMailbox) {
			mb, err = im.st.CreateMailbox(ctx, im.acct.ID, name, "")
			created = err == nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", name, err)
	}
	t.mb = mb
	t.minUID = mb.UIDNext
	if created {
		im.rep.Created++
		im.log.Info("created mailbox", "mailbox", name)
	}
	if err := im.loadExisting(ctx, t); err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", name, err)
	}
	im.targets[name] = t
	im.rep.Mailboxes++
	return t, nil
}

// loadExisting counts the blobs a mailbox already holds.
func (im *importer) loadExisting(ctx context.Context, t *target) error {
	refs, err := im.st.MessageRefs(ctx, im.acct.ID, t.mb.ID)
	if err != nil || len(refs) == 0 {
		return err
	}
	const chunk = 1000
	for i := 0; i < len(refs); i += chunk {
		uids := make([]store.UID, 0, chunk)
		for _, r := range refs[i:min(i+chunk, len(refs))] {
			uids = append(uids, r.UID)
		}
		err := im.st.Fetch(ctx, im.acct.ID, t.mb.ID, uids, store.FetchOptions{}, func(m *store.Message) error {
			t.existing[m.BlobID]++
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stagers is how many messages an import stages at once: staging waits
// on fsync, and the file system overlaps several.
const stagers = 4

// stageJob is one message being staged in its own goroutine.
type stageJob struct {
	t      *target
	sp     *spool
	flags  []string
	date   time.Time
	uid    uint32
	what   string
	size   int64
	staged *store.Staged
	err    error
	done   chan struct{}
}

// add imports one message read from r into t. uid > 0 asks for that UID
// (when t keeps UIDs and it is still free). The message is spooled and
// hashed here; when it is not a duplicate, it is staged in the background
// and appended, in source order, by a later add or by finish.
// Per-message problems are counted and logged, not returned; the error is
// for the whole import (context canceled, store down).
func (im *importer) add(ctx context.Context, t *target, r io.Reader, flags []string, date time.Time, uid uint32, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sp := im.getSpool()
	hash, size, err := sp.fill(message.NewCRLFReader(r), im.maxSize)
	if err != nil {
		im.free = append(im.free, sp)
		im.rep.Failed++
		if errors.Is(err, store.ErrTooLarge) {
			im.log.Warn("message too large, skipped", "mailbox", t.name, "message", what, "limit", im.maxSize)
			return nil
		}
		im.log.Warn("cannot read message", "mailbox", t.name, "message", what, "err", err)
		return nil
	}
	if t.seen[hash]+1 <= t.existing[hash] {
		im.free = append(im.free, sp)
		t.seen[hash]++
		im.rep.Skipped++
		return nil
	}
	job := &stageJob{t: t, sp: sp, flags: flags, date: date, uid: uid, what: what, size: size, done: make(chan struct{})}
	go func() {
		defer close(job.done)
		job.staged, job.err = im.st.Stage(ctx, sp.reader(), im.maxSize)
	}()
	im.inflight = append(im.inflight, job)
	if len(im.inflight) >= stagers {
		return im.complete(ctx)
	}
	return nil
}

func (im *importer) getSpool() *spool {
	if n := len(im.free); n > 0 {
		sp := im.free[n-1]
		im.free = im.free[:n-1]
		return sp
	}
	sp := &spool{}
	im.spools = append(im.spools, sp)
	return sp
}

// complete waits for the oldest staging job and queues its append.
func (im *importer) complete(ctx context.Context) error {
	job := im.inflight[0]
	im.inflight = im.inflight[1:]
	<-job.done
	im.free = append(im.free, job.sp)
	t := job.t
	if job.err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		im.rep.Failed++
		im.log.Warn("cannot store message", "mailbox", t.name, "message", job.what, "size", job.size, "err", job.err)
		return nil
	}
	staged := job.staged
	t.seen[staged.BlobID]++
	if t.seen[staged.BlobID] <= t.existing[staged.BlobID] {
		im.rep.Skipped++
		return nil
	}
	date := job.date
	if date.IsZero() && staged.Parsed != nil && !staged.Parsed.Headers.Date.IsZero() {
		date = staged.Parsed.Headers.Date
	}
	q := queued{req: store.AppendRequest{
		Account:      im.acct.ID,
		Mailbox:      t.mb.ID,
		Message:      staged,
		Flags:        job.flags,
		InternalDate: date,
		IgnoreQuota:  im.opts.IgnoreQuota,
	}}
	if t.keepUIDs && job.uid > 0 && store.UID(job.uid) >= t.minUID {
		q.uid = store.UID(job.uid)
		t.minUID = q.uid + 1
	}
	// A batch is either all with UIDs or all without.
	if len(t.queue) > 0 && (t.queue[0].uid == 0) != (q.uid == 0) {
		if err := im.flush(ctx, t); err != nil {
			return err
		}
	}
	if q.uid == 0 {
		if err := im.raiseUIDNext(ctx, t); err != nil {
			return err
		}
	}
	t.queue = append(t.queue, q)
	t.bytes += staged.Size
	if len(t.queue) >= batchMessages || t.bytes >= batchBytes {
		return im.flush(ctx, t)
	}
	return nil
}

// raiseUIDNext gives a mailbox that keeps UIDs the old server's UIDNEXT,
// once, after the messages with known UIDs are appended.
func (im *importer) raiseUIDNext(ctx context.Context, t *target) error {
	if !t.keepUIDs || t.raised {
		return nil
	}
	t.raised = true
	if err := im.flush(ctx, t); err != nil {
		return err
	}
	if t.oldUIDNext == 0 {
		return nil
	}
	t.minUID = max(t.minUID, t.oldUIDNext)
	if err := im.st.(UIDPreserver).RaiseUIDNext(ctx, im.acct.ID, t.mb.ID, t.oldUIDNext); err != nil {
		return fmt.Errorf("mailbox %q: %w", t.name, err)
	}
	return nil
}

// wait lets every staging goroutine end without using its result.
func (im *importer) wait() {
	for _, job := range im.inflight {
		<-job.done
		im.free = append(im.free, job.sp)
	}
	im.inflight = nil
}

// flush appends t's queued messages in one commit.
func (im *importer) flush(ctx context.Context, t *target) error {
	if len(t.queue) == 0 {
		return nil
	}
	reqs := make([]store.AppendRequest, len(t.queue))
	for i, q := range t.queue {
		reqs[i] = q.req
	}
	var (
		res []store.AppendResult
		err error
	)
	if t.queue[0].uid != 0 {
		uids := make([]store.UID, len(t.queue))
		for i, q := range t.queue {
			uids[i] = q.uid
		}
		res, err = im.st.(UIDPreserver).AppendWithUIDs(ctx, reqs, uids)
	} else {
		res, err = im.st.Append(ctx, reqs)
	}
	queue := t.queue
	t.queue, t.bytes = t.queue[:0], 0
	if err != nil {
		im.rep.Failed += int64(len(queue))
		return fmt.Errorf("mailbox %q: append: %w", t.name, err)
	}
	for i, r := range res {
		if r.Err != nil {
			im.rep.Failed++
			im.log.Warn("cannot append message", "mailbox", t.name, "err", r.Err)
			continue
		}
		im.rep.Messages++
		im.rep.Bytes += queue[i].req.Message.Size
	}
	return nil
}

// finish appends what is still being staged and flushes every target.
func (im *importer) finish(ctx context.Context) error {
	for len(im.inflight) > 0 {
		if err := im.complete(ctx); err != nil {
			im.wait()
			return err
		}
	}
	for _, t := range im.targets {
		if err := im.flush(ctx, t); err != nil {
			return err
		}
		if err := im.raiseUIDNext(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// spool holds one message between hashing it and staging it: in memory up
// to spoolMemory bytes, beyond that in a temporary file reused from
// message to message.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	size int64
}

// fill reads r to EOF and returns the hex SHA-256 and size of its bytes;
// past maxSize it fails with store.ErrTooLarge (r is still read to EOF, so
// the source stays in step).
func (sp *spool) fill(r io.Reader, maxSize int64) (string, int64, error) {
	sp.mem.Reset()
	sp.size = 0
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, &spoolWriter{sp: sp}), io.LimitReader(r, maxSize+1))
	if err != nil {
		return "", 0, err
	}
	if n > maxSize {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return "", 0, err
		}
		return "", 0, store.ErrTooLarge
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// reader returns the spooled bytes.
func (sp *spool) reader() io.Reader {
	mem := bytes.NewReader(sp.mem.Bytes())
	if sp.file == nil || sp.size <= int64(sp.mem.Len()) {
		return mem
	}
	return io.MultiReader(mem, io.NewSectionReader(sp.file, 0, sp.size-int64(sp.mem.Len())))
}

func (sp *spool) close() {
	if sp.file != nil {
		sp.file.Close()
		os.Remove(sp.file.Name())
		sp.file = nil
	}
}

// spoolWriter appends to a spool: memory first, then the file.
type spoolWriter struct{ sp *spool }

func (w *spoolWriter) Write(p []byte) (int, error) {
	sp := w.sp
	n := len(p)
	if room := spoolMemory - sp.mem.Len(); room > 0 {
		k := min(room, len(p))
		sp.mem.Write(p[:k])
		p = p[k:]
		sp.size += int64(k)
	}
	if len(p) == 0 {
		return n, nil
	}
	if sp.file == nil {
		f, err := os.CreateTemp("", "postern-import-*")
		if err != nil {
			return 0, err
		}
		sp.file = f
	}
	off := sp.size - int64(sp.mem.Len())
	if _, err := sp.file.WriteAt(p, off); err != nil {
		return 0, err
	}
	sp.size += int64(len(p))
	return n, nil
}
