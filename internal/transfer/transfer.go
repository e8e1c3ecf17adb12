// Package transfer imports mail into a store.Store from mbox files and
// Maildir trees and exports it back, for `postern import` and `postern
// export`.
//
// Formats and choices:
//
//   - mbox: read as mboxrd or mboxo (MboxVariant), and as mboxcl2 where a
//     Content-Length header checks out (Dovecot's own mbox files); the From_
//     line's date is the INTERNALDATE; flags come from the Status, X-Status,
//     X-Keywords and Thunderbird X-Mozilla-* fields, UIDs from X-IMAPbase
//     and X-UID; import removes these fields (see mboxmeta.go). Export
//     writes mboxrd with LF line ends, the From_ date in UTC and the state
//     as X-IMAPbase/X-UID/Status/X-Status/X-Keywords (which Dovecot reads
//     too), so import(export(x)) gives back the same bytes, flags, keywords
//     and dates. A path that is a directory holds one mbox file per mailbox
//     ("Sub/Folder.mbox"; Thunderbird's "Folder.sbd/" directories are
//     understood too).
//   - Maildir: the root folder is INBOX; Maildir++ ".Sub.Folder" folders
//     (levels in modified UTF-7, as Dovecot writes them) and plain nested
//     folders ("Sub/Folder/cur") are mailboxes; flags from the ":2," info,
//     keywords through dovecot-keywords, UIDVALIDITY and UIDs from
//     dovecot-uidlist (kept when the store implements UIDPreserver),
//     subscriptions from the root's subscriptions file. Export writes the
//     Maildir++ layout with those files and sets each file's mtime to the
//     INTERNALDATE; Dovecot reads it as it is.
//
// Line ends: the store keeps CRLF; files get LF, except a message with a
// bare CR before a CRLF, which is written with its CRLFs so it survives.
// What does not round-trip: an mbox message that does not end in a line
// end gains one, a message whose own header carries one of the mbox state
// fields loses it, and a Maildir folder names at most 26 keywords.
//
// Import is idempotent: a message is skipped when the target mailbox
// already holds as many copies of the same bytes (same blob SHA-256) as
// the source has offered so far, so running an import twice adds nothing
// and a source holding two identical messages still gets both.
//
// Import and Export are called by the CLI; each call is used by one
// goroutine (Import stages a few messages in parallel internally). They
// stream message bodies (a message is spooled to a temporary file past
// spoolMemory bytes) and never hold a whole mbox file.
package transfer

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Format is a mail file format.
type Format int

const (
	FormatMbox Format = iota + 1
	FormatMaildir
)

// String names the format as the CLI accepts it.
func (f Format) String() string {
	switch f {
	case FormatMbox:
		return "mbox"
	case FormatMaildir:
		return "maildir"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat reads "mbox" or "maildir".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "mbox":
		return FormatMbox, nil
	case "maildir", "maildir++":
		return FormatMaildir, nil
	}
	return 0, fmt.Errorf("unknown format %q (want mbox or maildir)", s)
}

// ImportOptions say what to import where.
type ImportOptions struct {
	// Account is the login name of the account to import into; it must
	// exist.
	Account string
	Format  Format
	// Path is an mbox file, a directory of mbox files, or a Maildir.
	Path string
	// Mailbox is where an mbox file goes (default INBOX). For a directory
	// or a Maildir it is the mailbox the root maps to, with subfolders
	// below it (default: the root is INBOX and subfolders are top level).
	Mailbox string
	// MboxVariant says how ">From " lines are un-escaped (default mboxrd).
	MboxVariant MboxVariant
	// KeepMetaHeaders keeps mbox Status/X-Status/X-Keywords/... fields in
	// the imported message instead of removing them.
	KeepMetaHeaders bool
	// IgnoreQuota imports even past the account's quota (the CLI's
	// --force); otherwise messages over quota fail.
	IgnoreQuota bool
	// MaxMessageSize bounds one message (default 1 GiB); larger ones are
	// counted as failed and skipped.
	MaxMessageSize int64
	// Progress is told how far the import is; nil for none.
	Progress Progress
	// Logger gets one line per skipped or failed message and per mailbox;
	// nil discards.
	Logger *slog.Logger
}

// ImportReport says what an import did.
type ImportReport struct {
	Mailboxes int   // mailboxes imported into
	Created   int   // of which newly created
	Messages  int64 // messages appended
	Skipped   int64 // messages already present (same bytes in the same mailbox)
	Failed    int64 // messages that could not be read or stored (see the log)
	Bytes     int64 // bytes appended
	// UIDsKept are mailboxes whose UIDVALIDITY and UIDs came from a
	// dovecot-uidlist.
	UIDsKept []string
	// Subscribed are the subscriptions set from a subscriptions file.
	Subscribed int
}

// ExportOptions say what to export where.
type ExportOptions struct {
	Account string
	Format  Format
	// Path is created: an mbox file (with Mailbox) or a directory of mbox
	// files, or a Maildir. It must not exist yet (an empty directory is
	// accepted).
	Path string
	// Mailbox exports only this mailbox; empty exports all of them.
	Mailbox  string
	Progress Progress
	Logger   *slog.Logger
}

// ExportReport says what an export did.
type ExportReport struct {
	Mailboxes int
	Messages  int64
	Bytes     int64
	// KeywordsDropped counts keywords a Maildir folder could not name: it
	// has only the letters a..z, so a folder holds at most 26 keywords.
	KeywordsDropped int64
}

// Errors.
var (
	ErrNoFormat  = errors.New("transfer: no format given")
	ErrPathExist = errors.New("transfer: export path already exists")
)

const defaultMaxMessageSize = 1 << 30

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
