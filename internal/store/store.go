// Package store is the mail store API: accounts, mailboxes and messages with
// the invariants of DESIGN.md §3. Backends (store/sqlite, later PostgreSQL)
// implement Store; protocol packages use only this package's types, so no
// backend detail leaks above it.
//
// Every method takes a context first and is safe for concurrent use by many
// sessions and by other processes on the same data directory (the CLI runs
// beside a server).
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/postern/postern/internal/message"
)

// UID is an IMAP unique identifier (RFC 9051 §2.3.1.1).
type UID uint32

// AccountID and MailboxID identify rows; they are never reused.
type (
	AccountID int64
	MailboxID int64
)

// Errors every backend returns (wrapped or bare; test with errors.Is).
var (
	ErrNoAccount      = errors.New("no such account")
	ErrAccountExists  = errors.New("account already exists")
	ErrNoMailbox      = errors.New("no such mailbox")
	ErrMailboxExists  = errors.New("mailbox already exists")
	ErrHasChildren    = errors.New("mailbox has child mailboxes")
	ErrInvalidName    = errors.New("invalid mailbox name")
	ErrCannot         = errors.New("operation not allowed on this mailbox") // e.g. delete INBOX
	ErrOverQuota      = errors.New("over quota")
	ErrTooLarge       = errors.New("message too large")
	ErrNoMessage      = errors.New("no such message")
	ErrNotSelectable  = errors.New("mailbox is not selectable")
	ErrTemporary      = errors.New("temporary store failure")
	ErrModSeqConflict = errors.New("modified since") // UNCHANGEDSINCE failed
)

// Separator is the hierarchy separator of mailbox names.
const Separator = '/'

// System flags as stored. Keywords are stored as given (case preserved,
// compared case-insensitively). \Recent is never stored: it is derived from
// Mailbox.FirstRecentUID per session.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Account is one user of the server.
type Account struct {
	ID   AccountID
	Name string // login name, lower case
	// Secrets are credential records owned by package auth (argon2id hash,
	// SCRAM keys, ...). The store keeps them opaque.
	Secrets map[string]string
	// Settings are per-account options ("pop3_mailbox", ...).
	Settings map[string]string
	Quota    Quota
	Created  time.Time
}

// Quota limits an account; zero means unlimited.
type Quota struct {
	StorageBytes int64
	Messages     int64
}

// Usage is what an account holds now.
type Usage struct {
	StorageBytes int64
	Messages     int64
}

// Mailbox is one folder with its IMAP state.
type Mailbox struct {
	ID            MailboxID
	Account       AccountID
	Name          string // UTF-8, '/' separated; "INBOX" for the inbox
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	// SpecialUse is "" or one of \Drafts \Sent \Trash \Junk \Archive \All
	// \Flagged (RFC 6154).
	SpecialUse string
	Subscribed bool
	// ObjectID is the RFC 8474 MAILBOXID; stable across renames.
	ObjectID string
	// FirstRecentUID: messages with UID >= it are \Recent for the next
	// session that claims them (ClaimRecent).
	FirstRecentUID UID
}

// Status is the STATUS data of a mailbox (RFC 9051 §6.3.11).
type Status struct {
	Mailbox
	Messages int64
	Unseen   int64
	Deleted  int64
	Recent   int64
	Size     int64 // sum of RFC822.SIZE (STATUS=SIZE, RFC 8438)
}

// Staged is a message body written to blob storage and parsed, not yet in
// any mailbox. Its bytes become durable with the Append that references
// them: the blob file and its directory are fsynced before that commit. It may be appended to many mailboxes (LMTP with several
// recipients, COPY) without storing the bytes again.
type Staged struct {
	BlobID string // hex SHA-256 of the stored bytes
	Size   int64
	Parsed *message.Parsed
	// LineEndPad is what completes the last line (see Message.LineEndPad).
	LineEndPad int8
	// Inline holds the bytes of a small message that the backend keeps
	// beside its metadata rather than as a blob file; Append stores them
	// in the same commit. Nil when the bytes are already in blob storage.
	Inline []byte
}

// AppendRequest asks for one staged message in one mailbox.
type AppendRequest struct {
	Account AccountID
	Mailbox MailboxID
	Message *Staged
	Flags   []string
	// InternalDate; zero means now.
	InternalDate time.Time
	// IgnoreQuota skips the quota check (import tools, --force).
	IgnoreQuota bool
}

// AppendResult reports one request of an Append call. Err is per request
// (ErrOverQuota, ErrNoMailbox); the other requests of the call still commit.
type AppendResult struct {
	UIDValidity uint32
	UID         UID
	ModSeq      uint64
	Err         error
}

// MessageRef is the small per-message state a session keeps in its view.
type MessageRef struct {
	UID    UID
	ModSeq uint64
	Flags  []string
}

// Message is one message row: everything FETCH, SEARCH and SORT need
// without opening the body.
type Message struct {
	UID          UID
	ModSeq       uint64
	Flags        []string
	InternalDate time.Time
	SaveDate     time.Time
	Size         int64
	BlobID       string
	EmailID      string // RFC 8474
	ThreadID     string
	// LineEndPad is how many octets a sender that ends every line with
	// CRLF adds after the stored bytes (POP3, whose RETR must end the
	// last line before the terminating "."): 0 when the message ends with
	// CRLF or is empty, 1 when it ends with a lone CR, 2 when its last
	// line has no line end (an IMAP APPEND may store that). -1: not
	// known, for messages stored before the store recorded it; see
	// LineEndPadOf.
	LineEndPad int8

	EnvelopeIMAP      []byte
	BodyIMAP          []byte
	BodyStructureIMAP []byte
	// Structure is the MIME tree with offsets (nil unless requested).
	Structure *message.Part
	Headers   message.Headers
	Preview   string
}

// LineEndPadOf computes Message.LineEndPad from the last octets of a
// message (at most two are looked at; fewer for a shorter message).
// Stored messages have no bare LF (Stage turns it into CRLF), so a final
// LF ends a CRLF.
func LineEndPadOf(tail []byte) int8 {
	switch {
	case len(tail) == 0:
		return 0
	case tail[len(tail)-1] == '\n':
		return 0
	case tail[len(tail)-1] == '\r':
		return 1
	}
	return 2
}

// FetchOptions say which costly columns Fetch loads. UID, ModSeq, Flags,
// dates, size, LineEndPad, ids and blob id always come, unless FlagsOnly.
type FetchOptions struct {
	Envelope      bool // EnvelopeIMAP
	BodyStructure bool // BodyIMAP and BodyStructureIMAP
	Structure     bool // Structure (part offsets)
	Headers       bool // Headers
	Preview       bool
	// FlagsOnly fills only UID, ModSeq and Flags (FETCH (UID FLAGS),
	// a synchronizing client's flag scan), and none of the above; fn may
	// then get the same *Message each time and must not keep it.
	FlagsOnly bool
}

// FlagOp is how UpdateFlags applies its flags (STORE FLAGS / +FLAGS / -FLAGS).
type FlagOp int

const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// FlagUpdate is the new state of one message whose flags changed.
type FlagUpdate struct {
	UID    UID
	ModSeq uint64
	Flags  []string
}

// Changes is what happened in a mailbox after a mod-sequence (CONDSTORE /
// QRESYNC, and sessions catching up after a hub notification).
type Changes struct {
	// Changed are messages (new or with new flags) whose ModSeq > since,
	// ordered by UID.
	Changed []MessageRef
	// Vanished are UIDs expunged with a tombstone ModSeq > since, ordered.
	Vanished []UID
	// TombstonesPruned is true when tombstones older than since may be
	// missing; the caller must then compare full UID lists.
	TombstonesPruned bool
	HighestModSeq    uint64
}

// Store is the mail store. See DESIGN.md §3 for the invariants.
type Store interface {
	// Close releases the store; callers stop using it first.
	Close() error
	// Hub is where every change is published.
	Hub() *Hub

	// Accounts. Names are case-insensitive (stored lower case). A new
	// account gets INBOX, Drafts, Sent, Trash, Junk and Archive.
	CreateAccount(ctx context.Context, name string) (Account, error)
	Account(ctx context.Context, name string) (Account, error)
	Accounts(ctx context.Context) ([]Account, error)
	// DeleteAccount removes the account and all its mail.
	DeleteAccount(ctx context.Context, name string) error
	SetSecrets(ctx context.Context, account AccountID, secrets map[string]string) error
	SetSetting(ctx context.Context, account AccountID, key, value string) error
	SetQuota(ctx context.Context, account AccountID, q Quota) error
	Usage(ctx context.Context, account AccountID) (Usage, error)

	// Mailboxes. Names are UTF-8 with '/' as separator; "INBOX" matches
	// case-insensitively. Creating "a/b/c" creates missing parents.
	Mailboxes(ctx context.Context, account AccountID) ([]Mailbox, error)
	Mailbox(ctx context.Context, account AccountID, name string) (Mailbox, error)
	MailboxByID(ctx context.Context, account AccountID, id MailboxID) (Mailbox, error)
	CreateMailbox(ctx context.Context, account AccountID, name, specialUse string) (Mailbox, error)
	// DeleteMailbox removes a mailbox and its messages. With children it
	// fails with ErrHasChildren. INBOX cannot be deleted (ErrCannot).
	DeleteMailbox(ctx context.Context, account AccountID, name string) error
	// RenameMailbox renames a mailbox and its whole subtree, keeping UIDs,
	// UIDVALIDITY and MAILBOXID. Renaming INBOX moves its messages to the
	// new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
	RenameMailbox(ctx context.Context, account AccountID, from, to string) error
	// SetSubscribed records a subscription; a name may be subscribed
	// without existing (RFC 9051 §6.3.8).
	SetSubscribed(ctx context.Context, account AccountID, name string, on bool) error
	Subscriptions(ctx context.Context, account AccountID) ([]string, error)
	Status(ctx context.Context, account AccountID, mailbox MailboxID) (Status, error)
	// ClaimRecent claims \Recent for the messages up to upTo that no
	// session has claimed yet: it returns the mailbox's FirstRecentUID and,
	// when that is not above upTo, moves it past upTo, atomically, so that
	// exactly one session sees a message as \Recent. The caller marks its
	// messages from the returned UID through upTo; upTo is the last UID the
	// caller knows, so that a message delivered meanwhile stays unclaimed
	// for the session that will see it.
	ClaimRecent(ctx context.Context, account AccountID, mailbox MailboxID, upTo UID) (UID, error)

	// Stage writes a message to blob storage (bare LF becomes CRLF) and
	// parses it; Append makes the bytes durable together with the row. It reads r to EOF; past maxSize octets it stops
	// reading and returns ErrTooLarge, keeping nothing.
	Stage(ctx context.Context, r io.Reader, maxSize int64) (*Staged, error)
	// Append adds staged messages to mailboxes in one durable commit; calls
	// from concurrent goroutines are grouped into shared commits. When it
	// returns, every successful request is durable and published.
	Append(ctx context.Context, reqs []AppendRequest) ([]AppendResult, error)

	// MessageRefs lists every message of a mailbox in UID order.
	MessageRefs(ctx context.Context, account AccountID, mailbox MailboxID) ([]MessageRef, error)
	// Fetch calls fn for each existing message among uids, in UID order.
	// Missing UIDs are skipped.
	Fetch(ctx context.Context, account AccountID, mailbox MailboxID, uids []UID, opts FetchOptions, fn func(*Message) error) error
	// OpenBody opens a message's stored bytes.
	OpenBody(ctx context.Context, blobID string) (Body, error)
	// UpdateFlags changes flags of uids. With unchangedSince > 0 messages
	// whose ModSeq is greater are left alone and returned in failed
	// (CONDSTORE). Only messages whose flags really change get a new ModSeq
	// and appear in updated.
	UpdateFlags(ctx context.Context, account AccountID, mailbox MailboxID, uids []UID, op FlagOp, flags []string, unchangedSince uint64) (updated []FlagUpdate, failed []UID, err error)
	// Expunge removes uids, leaving tombstones; it returns those removed.
	Expunge(ctx context.Context, account AccountID, mailbox MailboxID, uids []UID) ([]UID, error)
	// Copy copies uids into dst (quota applies); Move also expunges them
	// from src, atomically. They return the source UIDs that existed and
	// the new UIDs in dst, pairwise, and dst's UIDVALIDITY (COPYUID).
	Copy(ctx context.Context, account AccountID, src MailboxID, uids []UID, dst MailboxID) (srcUIDs, dstUIDs []UID, dstUIDValidity uint32, err error)
	Move(ctx context.Context, account AccountID, src MailboxID, uids []UID, dst MailboxID) (srcUIDs, dstUIDs []UID, dstUIDValidity uint32, err error)
	// MarkRetrieved records at as the time uids were first retrieved by
	// POP3 (for EXPIRE, RFC 2449 §6.7); messages that have a time keep
	// it. It is not IMAP-visible state: no MODSEQ, no event.
	MarkRetrieved(ctx context.Context, account AccountID, mailbox MailboxID, uids []UID, at time.Time) error
	// RetrievedBefore lists, in UID order, the messages of a mailbox first
	// retrieved (MarkRetrieved) before the given time.
	RetrievedBefore(ctx context.Context, account AccountID, mailbox MailboxID, before time.Time) ([]UID, error)
	// ChangesSince reports what changed in a mailbox after a mod-sequence.
	ChangesSince(ctx context.Context, account AccountID, mailbox MailboxID, since uint64) (Changes, error)
	// SearchText returns the UIDs among uids whose decoded body text (or,
	// with withHeaders, header and body text) contains every needle,
	// case-insensitively (IMAP BODY / TEXT search keys).
	SearchText(ctx context.Context, account AccountID, mailbox MailboxID, uids []UID, needles []string, withHeaders bool) ([]UID, error)
	// HeaderCandidates narrows a FROM, SUBJECT, TO, CC or BCC search (field
	// "from", "subject", "to", "cc" or "bcc") inside the database: it
	// returns, in UID order, a superset
	// of the messages whose decoded field contains needle
	// case-insensitively, for the caller to check. ok is false when it
	// cannot narrow (another field, an empty or non-ASCII needle).
	HeaderCandidates(ctx context.Context, account AccountID, mailbox MailboxID, field, needle string) (uids []UID, ok bool, err error)

	// Check verifies the invariants; with repair it fixes what it can.
	Check(ctx context.Context, repair bool) (CheckReport, error)
}

// Body is a stored message's bytes.
type Body interface {
	io.ReaderAt
	io.ReadSeekCloser
	Size() int64
}

// CheckReport is what Check found.
type CheckReport struct {
	Accounts, Mailboxes, Messages, Blobs int
	// Problems are human-readable findings; empty means clean.
	Problems []string
	// Repaired are the fixes made (repair mode only).
	Repaired []string
}
