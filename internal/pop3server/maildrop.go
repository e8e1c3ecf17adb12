package pop3server

import (
	"fmt"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// maildropMessage is one message of the maildrop as it stood at login.
type maildropMessage struct {
	uid store.UID
	// size is what RETR sends before dot-stuffing: the stored octets and
	// the line end RETR adds to a last line without one (RFC 1939 §11:
	// LIST and STAT give exact sizes).
	size      int64
	blobID    string
	seen      bool // had \Seen at login
	deleted   bool // marked by DELE
	retrieved bool // sent whole by RETR
}

// maildrop is the numbered message list of a TRANSACTION state (RFC 1939
// §5): message n is drop[n-1]; numbers never change during the session.
type maildrop []maildropMessage

// stat is the count and total size of the messages not marked deleted.
func (d maildrop) stat() (count int, size int64) {
	for i := range d {
		if !d[i].deleted {
			count++
			size += d[i].size
		}
	}
	return count, size
}

// settingPOP3Mailbox names the account setting that chooses the mailbox POP3
// serves; settingMarkSeen = "no" stops RETR from setting \Seen.
const (
	settingPOP3Mailbox = "pop3_mailbox"
	settingMarkSeen    = "pop3_mark_seen"
)

// loadMaildrop reads the configured mailbox as it stands now, after
// removing what EXPIRE says has expired. Messages delivered later wait for
// the next login.
func (s *session) loadMaildrop() error {
	name := s.account.Settings[settingPOP3Mailbox]
	if name == "" {
		name = "INBOX"
	}
	st := s.srv.opts.Store
	mb, err := st.Mailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	if err := s.expireRetrieved(mb); err != nil {
		return err
	}
	refs, err := st.MessageRefs(s.ctx, s.account.ID, mb.ID)
	if err != nil {
		return err
	}
	uids := make([]store.UID, len(refs))
	for i, r := range refs {
		uids[i] = r.UID
	}
	drop := make(maildrop, 0, len(refs))
	if len(uids) > 0 {
		var unknown []int // messages stored before the store kept LineEndPad
		err = st.Fetch(s.ctx, s.account.ID, mb.ID, uids, store.FetchOptions{}, func(m *store.Message) error {
			if m.LineEndPad < 0 {
				unknown = append(unknown, len(drop))
			}
			drop = append(drop, maildropMessage{
				uid:    m.UID,
				size:   m.Size + int64(max(m.LineEndPad, 0)),
				blobID: m.BlobID,
				seen:   hasFlag(m.Flags, store.FlagSeen),
			})
			return nil
		})
		if err != nil {
			return err
		}
		for _, i := range unknown {
			pad, err := s.lineEndPad(drop[i].blobID, drop[i].size)
			if err != nil {
				return err
			}
			drop[i].size += int64(pad)
		}
	}
	s.mailbox = mb
	s.drop = drop
	return nil
}

// expireRetrieved applies EXPIRE n > 0 at login (RFC 2449 §6.7): the
// messages of the maildrop first retrieved more than n days ago are
// expunged, as IMAP's EXPUNGE would, before the message list is made.
// The session holds the maildrop lock, so no other POP3 session has them
// numbered.
func (s *session) expireRetrieved(mb store.Mailbox) error {
	days := s.srv.expireDays
	if days <= 0 {
		return nil
	}
	st := s.srv.opts.Store
	old, err := st.RetrievedBefore(s.ctx, s.account.ID, mb.ID, time.Now().Add(-time.Duration(days)*24*time.Hour))
	if err != nil || len(old) == 0 {
		return err
	}
	removed, err := st.Expunge(s.ctx, s.account.ID, mb.ID, old)
	if err != nil {
		return err
	}
	s.log.Info("pop3 expired retrieved messages", "user", s.account.Name, "count", len(removed), "days", days)
	return nil
}

// lineEndPad reads the last octets of a stored message of size octets to
// find store.Message.LineEndPad, for messages whose row lacks it.
func (s *session) lineEndPad(blobID string, size int64) (int8, error) {
	if size == 0 {
		return 0, nil
	}
	body, err := s.srv.opts.Store.OpenBody(s.ctx, blobID)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n := min(size, 2)
	tail := make([]byte, n)
	if _, err := body.ReadAt(tail, size-n); err != nil {
		return 0, err
	}
	return store.LineEndPadOf(tail), nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// uidl is the unique-id listing of a message (RFC 1939 §7): UIDVALIDITY and
// UID in hex. UIDs are never reused within a UIDVALIDITY and UIDVALIDITY
// changes only when a mailbox is recreated, so the id is the same for every
// client, never changes and never names another message.
func (s *session) uidl(m *maildropMessage) string {
	return fmt.Sprintf("%08x%08x", s.mailbox.UIDValidity, uint32(m.uid))
}
