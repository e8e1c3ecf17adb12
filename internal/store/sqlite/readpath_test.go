package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/postern/postern/internal/store"
)

// refsDirect reads a mailbox's refs without the cache.
func refsDirect(t *testing.T, db *DB, acct store.AccountID, mb store.MailboxID) []store.MessageRef {
	t.Helper()
	rows, err := db.rdb.QueryContext(context.Background(), refsQuery, acct, mb)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []store.MessageRef
	for rows.Next() {
		var r store.MessageRef
		var flags string
		if err := rows.Scan(&r.UID, &r.ModSeq, &flags); err != nil {
			t.Fatal(err)
		}
		r.Flags = splitFlags(flags)
		out = append(out, r)
	}
	return out
}

func assertRefs(t *testing.T, db *DB, acct store.AccountID, mb store.MailboxID, what string) []store.MessageRef {
	t.Helper()
	got, err := db.MessageRefs(context.Background(), acct, mb)
	if err != nil {
		t.Fatal(err)
	}
	want := refsDirect(t, db, acct, mb)
	if len(got) != len(want) {
		t.Fatalf("%s: %d refs, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].UID != want[i].UID || got[i].ModSeq != want[i].ModSeq || !slices.Equal(got[i].Flags, want[i].Flags) {
			t.Fatalf("%s: ref %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
	return got
}

// TestRefsCache checks that cached MessageRefs of a big mailbox follow
// every kind of change, including one made by another process, and that
// callers changing the returned slice do not change the cache.
func TestRefsCache(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir)
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "cache")
	const n = refsCacheMin + 100
	if err := bulkAppend(db, a.ID, inbox.ID, n); err != nil {
		t.Fatal(err)
	}
	refs := assertRefs(t, db, a.ID, inbox.ID, "first")
	refs[0].UID, refs[1].Flags = 99999, append(refs[1].Flags, "Junk")
	refs = assertRefs(t, db, a.ID, inbox.ID, "after caller changes")
	if refs[0].UID != 1 || slices.Contains(refs[1].Flags, "Junk") {
		t.Fatalf("cache changed by a caller: %+v %+v", refs[0], refs[1])
	}
	if _, _, err := db.UpdateFlags(ctx, a.ID, inbox.ID, []store.UID{10, 11, 12}, store.FlagsAdd, []string{store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	refs = assertRefs(t, db, a.ID, inbox.ID, "after flags")
	if !slices.Contains(refs[10].Flags, store.FlagFlagged) {
		t.Fatalf("flag change not seen: %+v", refs[10])
	}
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, []store.UID{5}); err != nil {
		t.Fatal(err)
	}
	refs = assertRefs(t, db, a.ID, inbox.ID, "after expunge")
	if len(refs) != n-1 {
		t.Fatalf("expunge not seen: %d refs", len(refs))
	}
	deliver(t, db, a.ID, inbox.ID, testMessage("<new@x>", "new", "b"))
	assertRefs(t, db, a.ID, inbox.ID, "after append")

	other := openTest(t, dir)
	if _, err := other.Expunge(ctx, a.ID, inbox.ID, []store.UID{7, 8}); err != nil {
		t.Fatal(err)
	}
	refs = assertRefs(t, db, a.ID, inbox.ID, "after another process's expunge")
	if len(refs) != n-2 {
		t.Fatalf("other process's expunge not seen: %d refs", len(refs))
	}
	if h, d := db.refs.hits.Load(), db.refs.deltas.Load(); h != 1 || d != 4 {
		t.Fatalf("%d cache hits, %d deltas; want 1 and 4", h, d)
	}
	// Changing every message is too big a delta: a full scan.
	all := make([]store.UID, 0, len(refs))
	for _, r := range refs {
		all = append(all, r.UID)
	}
	if _, _, err := db.UpdateFlags(ctx, a.ID, inbox.ID, all, store.FlagsAdd, []string{"Big"}, 0); err != nil {
		t.Fatal(err)
	}
	assertRefs(t, db, a.ID, inbox.ID, "after a change to all")
	if d := db.refs.deltas.Load(); d != 4 {
		t.Fatalf("%d deltas after a change to all", d)
	}
	// Tombstones pruned past the cached state: a full scan.
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, []store.UID{20}); err != nil {
		t.Fatal(err)
	}
	if err := db.write(ctx, func(w *wtx) error {
		_, err := w.exec("UPDATE mailboxes SET tomb_pruned_modseq = highestmodseq WHERE id = ?", inbox.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	assertRefs(t, db, a.ID, inbox.ID, "after pruning")
	if d := db.refs.deltas.Load(); d != 4 {
		t.Fatalf("%d deltas after pruning", d)
	}
	if _, err := db.MessageRefs(ctx, a.ID, 424242); err != store.ErrNoMailbox {
		t.Fatalf("missing mailbox: %v", err)
	}
}

// TestUpdateFlagsMixed checks the grouped UPDATE: messages with different
// flags before a STORE end with the right flags, seen/deleted columns and
// MODSEQs, and unchanged messages keep theirs.
func TestUpdateFlagsMixed(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "mixed")
	start := [][]string{nil, {store.FlagSeen}, {"Work"}, {store.FlagSeen, store.FlagDeleted}, nil, {store.FlagSeen}}
	for i, f := range start {
		deliver(t, db, a.ID, inbox.ID, testMessage(fmt.Sprintf("<%d@mixed>", i), "s", "b"), f...)
	}
	mb0, _ := db.MailboxByID(ctx, a.ID, inbox.ID)
	before := refsDirect(t, db, a.ID, inbox.ID)
	all := []store.UID{1, 2, 3, 4, 5, 6}
	up, failed, err := db.UpdateFlags(ctx, a.ID, inbox.ID, all, store.FlagsAdd, []string{store.FlagSeen}, 0)
	if err != nil || len(failed) != 0 {
		t.Fatal(up, failed, err)
	}
	if got := len(up); got != 3 {
		t.Fatalf("%d updated, want 3 (UIDs 1, 3, 5): %+v", got, up)
	}
	want := map[store.UID][]string{1: {store.FlagSeen}, 3: {"Work", store.FlagSeen}, 5: {store.FlagSeen}}
	for _, u := range up {
		if !slices.Equal(u.Flags, want[u.UID]) || u.ModSeq != mb0.HighestModSeq+1 {
			t.Fatalf("update %+v", u)
		}
	}
	after := refsDirect(t, db, a.ID, inbox.ID)
	for i, r := range after {
		changed := want[r.UID] != nil
		if changed && (r.ModSeq != mb0.HighestModSeq+1 || !slices.Equal(r.Flags, want[r.UID])) {
			t.Fatalf("row %+v", r)
		}
		if !changed && (r.ModSeq != before[i].ModSeq || !slices.Equal(r.Flags, before[i].Flags)) {
			t.Fatalf("unchanged row %+v, was %+v", r, before[i])
		}
	}
	st, err := db.Status(ctx, a.ID, inbox.ID)
	if err != nil || st.Unseen != 0 {
		t.Fatalf("status %+v %v", st, err)
	}
	ch, err := db.ChangesSince(ctx, a.ID, inbox.ID, mb0.HighestModSeq)
	if err != nil || len(ch.Changed) != 3 || ch.HighestModSeq != mb0.HighestModSeq+1 {
		t.Fatalf("changes %+v %v", ch, err)
	}
	// Removing \Seen from all: six different old states, one new one.
	up, _, err = db.UpdateFlags(ctx, a.ID, inbox.ID, all, store.FlagsRemove, []string{store.FlagSeen, store.FlagDeleted}, 0)
	if err != nil || len(up) != 6 {
		t.Fatalf("remove: %d updated, %v", len(up), err)
	}
	st, _ = db.Status(ctx, a.ID, inbox.ID)
	if st.Unseen != 6 {
		t.Fatalf("status after remove %+v", st)
	}
	mustClean(t, db)
}

// TestFetchBlobsOwned checks that the BLOB values Fetch keeps from each
// row (scanned as sql.RawBytes, see driverBlob) stay intact and do not
// share memory with other rows' values.
func TestFetchBlobsOwned(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "owned")
	const n = 50
	for i := 0; i < n; i++ {
		deliver(t, db, a.ID, inbox.ID, testMessage(fmt.Sprintf("<%d@owned>", i), fmt.Sprintf("subject-%03d", i), "b"))
	}
	var msgs []*store.Message
	uids := make([]store.UID, n)
	for i := range uids {
		uids[i] = store.UID(i + 1)
	}
	err := db.Fetch(ctx, a.ID, inbox.ID, uids, store.FetchOptions{Envelope: true, BodyStructure: true, Headers: true}, func(m *store.Message) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil || len(msgs) != n {
		t.Fatal(len(msgs), err)
	}
	seen := map[*byte]bool{}
	for i, m := range msgs {
		if !bytes.Contains(m.EnvelopeIMAP, []byte(fmt.Sprintf("subject-%03d", i))) || m.Headers.Subject != fmt.Sprintf("subject-%03d", i) {
			t.Fatalf("message %d: envelope %q, subject %q", i, m.EnvelopeIMAP, m.Headers.Subject)
		}
		for _, b := range [][]byte{m.EnvelopeIMAP, m.BodyIMAP, m.BodyStructureIMAP} {
			if len(b) == 0 {
				t.Fatalf("message %d: empty value", i)
			}
			if seen[&b[0]] {
				t.Fatalf("message %d shares a buffer", i)
			}
			seen[&b[0]] = true
		}
	}
}

// TestMergeRefs checks the delta merge on UIDs changed, added and gone.
func TestMergeRefs(t *testing.T) {
	ref := func(u store.UID, m uint64) store.MessageRef { return store.MessageRef{UID: u, ModSeq: m} }
	old := []store.MessageRef{ref(1, 1), ref(3, 1), ref(5, 1), ref(7, 1)}
	changed := []store.MessageRef{ref(3, 2), ref(8, 2), ref(9, 2)}
	got := mergeRefs(old, changed, []store.UID{1, 2, 7, 9})
	want := []store.MessageRef{ref(3, 2), ref(5, 1), ref(8, 2)}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range got {
		if got[i].UID != want[i].UID || got[i].ModSeq != want[i].ModSeq {
			t.Fatalf("%+v, want %+v", got, want)
		}
	}
	if got := mergeRefs(nil, nil, []store.UID{4}); len(got) != 0 {
		t.Fatalf("%+v", got)
	}
}

// TestFlagInterner checks that interned lists match splitFlags, are shared
// for equal strings, are capped, and that the interner stops growing at
// maxInternedFlagSets.
func TestFlagInterner(t *testing.T) {
	var fi flagInterner
	a := fi.flags([]byte(`\Seen \Flagged`))
	b := fi.flags([]byte(`\Seen`))
	c := fi.flags([]byte(`\Seen \Flagged`))
	if !slices.Equal(a, []string{`\Seen`, `\Flagged`}) || !slices.Equal(b, []string{`\Seen`}) || &a[0] != &c[0] || cap(a) != len(a) {
		t.Fatalf("%q %q %q", a, b, c)
	}
	if e := fi.flags(nil); e == nil || len(e) != 0 {
		t.Fatalf("empty flags %#v", e)
	}
	for i := 0; i < maxInternedFlagSets+10; i++ {
		kw := fmt.Sprintf("kw%d", i)
		if got := fi.flags([]byte(kw)); !slices.Equal(got, []string{kw}) {
			t.Fatalf("%q -> %q", kw, got)
		}
	}
	if len(fi.m) != maxInternedFlagSets {
		t.Fatalf("interner holds %d sets", len(fi.m))
	}
}

// TestFetchFlagsOnly compares Fetch with FlagsOnly (read from the index
// of flags alone, or for many UIDs from the cached MessageRefs) with a
// full Fetch on dense and sparse UID sets, with expunged UIDs and UIDs
// past the end among them: the same messages, UIDs, MODSEQs and flags,
// and none of the other fields; again after a flag change, which the
// cached refs must reflect.
func TestFetchFlagsOnly(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	a, inbox := mustAccount(t, db, "flagsonly")
	const n = refsCacheMin + 400
	if err := bulkAppend(db, a.ID, inbox.ID, n); err != nil {
		t.Fatal(err)
	}
	var every3, every7, gone []store.UID
	for u := store.UID(1); u <= n; u++ {
		switch {
		case u%3 == 0:
			every3 = append(every3, u)
		case u%7 == 0:
			every7 = append(every7, u)
		case u%50 == 1:
			gone = append(gone, u)
		}
	}
	if _, _, err := db.UpdateFlags(ctx, a.ID, inbox.ID, every3, store.FlagsAdd, []string{store.FlagFlagged, "$Work"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.UpdateFlags(ctx, a.ID, inbox.ID, every7, store.FlagsRemove, []string{store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Expunge(ctx, a.ID, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	all := make([]store.UID, 0, n+10)
	for u := store.UID(1); u <= n+10; u++ {
		all = append(all, u)
	}
	var sparse []store.UID
	for u := store.UID(1); u <= n+10; u += 37 {
		sparse = append(sparse, u)
	}
	fetch := func(uids []store.UID, opts store.FetchOptions) []store.Message {
		var out []store.Message
		if err := db.Fetch(ctx, a.ID, inbox.ID, uids, opts, func(m *store.Message) error {
			out = append(out, *m)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	compare := func(after string) {
		t.Helper()
		for name, uids := range map[string][]store.UID{"all": all, "sparse": sparse, "dense part": all[100:180], "one": {3}, "gone": {51}} {
			name = after + ", " + name
			full := fetch(uids, store.FetchOptions{})
			flags := fetch(uids, store.FetchOptions{FlagsOnly: true})
			if len(flags) != len(full) {
				t.Fatalf("%s: %d messages with FlagsOnly, %d without", name, len(flags), len(full))
			}
			for i, m := range flags {
				f := full[i]
				if m.UID != f.UID || m.ModSeq != f.ModSeq || !slices.Equal(m.Flags, f.Flags) {
					t.Fatalf("%s: FlagsOnly gave UID %d MODSEQ %d %v, full Fetch UID %d MODSEQ %d %v", name, m.UID, m.ModSeq, m.Flags, f.UID, f.ModSeq, f.Flags)
				}
				if m.BlobID != "" || m.Size != 0 || !m.InternalDate.IsZero() {
					t.Fatalf("%s: FlagsOnly filled more than UID, MODSEQ and flags: %+v", name, m)
				}
			}
		}
	}
	compare("first")
	compare("cached")
	if _, _, err := db.UpdateFlags(ctx, a.ID, inbox.ID, all[:300], store.FlagsAdd, []string{"$Later"}, 0); err != nil {
		t.Fatal(err)
	}
	compare("after a flag change")
	if db.refs.hits.Load()+db.refs.deltas.Load() == 0 {
		t.Fatal("FlagsOnly of every UID never used the cached refs")
	}
	if got := fetch(all, store.FetchOptions{FlagsOnly: true}); len(got) != n-len(gone) {
		t.Fatalf("FlagsOnly of every UID: %d messages, want %d", len(got), n-len(gone))
	}
	mustClean(t, db)
}
