package pop3server

import (
	"fmt"
	"strings"

	"github.com/postern/postern/internal/store"
)

// maildropMessage is one message of the maildrop as it stood at login.
type maildropMessage struct {
	uid       store.UID
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

// loadMaildrop reads the configured mailbox as it stands now. Messages
// delivered later wait for the next login.
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
		err = st.Fetch(s.ctx, s.account.ID, mb.ID, uids, store.FetchOptions{}, func(m *store.Message) error {
			drop = append(drop, maildropMessage{
				uid:    m.UID,
				size:   m.Size,
				blobID: m.BlobID,
				seen:   hasFlag(m.Flags, store.FlagSeen),
			})
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.mailbox = mb
	s.drop = drop
	return nil
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
