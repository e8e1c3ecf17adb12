package sqlite

import (
	"io"
	"strings"

	"github.com/postern/postern/internal/message"
)

// parseMessage describes a message as it is being stored (see Stage).
func parseMessage(r io.Reader) (*message.Parsed, error) { return message.Parse(r) }

// maxTextPart and maxText bound the decoded text taken from one part and
// from one message for text search.
const (
	maxTextPart = 1 << 20
	maxText     = 4 << 20
)

// messageText extracts the searchable text of a stored message: the
// decoded text of every text/* part (HTML without markup) and the header
// blocks of encapsulated messages. With headers, the top-level header block
// and the decoded indexed fields come first. Lines are kept; the result is
// not case-folded.
func messageText(root *message.Part, h *message.Headers, raw io.ReaderAt, headers bool) (header, body string, err error) {
	if root == nil {
		return "", "", nil
	}
	if headers {
		var sb strings.Builder
		if n := root.BodyStart - root.HeaderStart; n > 0 && n <= maxTextPart {
			buf := make([]byte, n)
			if _, err := raw.ReadAt(buf, root.HeaderStart); err != nil {
				return "", "", err
			}
			sb.Write(buf)
		}
		if h != nil {
			for _, s := range []string{h.From, h.Sender, h.ReplyTo, h.To, h.Cc, h.Bcc, h.Subject} {
				if s != "" {
					sb.WriteString(s)
					sb.WriteByte('\n')
				}
			}
		}
		header = sb.String()
	}
	var sb strings.Builder
	var walk func(p *message.Part, top bool) error
	walk = func(p *message.Part, top bool) error {
		if sb.Len() >= maxText {
			return nil
		}
		switch {
		case len(p.Children) > 0:
			if p.Type == "message" && !top {
				if n := p.Children[0].BodyStart - p.Children[0].HeaderStart; n > 0 && n <= maxTextPart {
					buf := make([]byte, n)
					if _, err := raw.ReadAt(buf, p.Children[0].HeaderStart); err != nil {
						return err
					}
					sb.Write(buf)
				}
			}
			for _, c := range p.Children {
				if err := walk(c, false); err != nil {
					return err
				}
			}
		case p.Type == "text":
			s, err := message.DecodeText(p, raw, maxTextPart)
			if err != nil {
				return err
			}
			if p.Subtype == "html" {
				s = message.HTMLToText(s)
			}
			sb.WriteString(s)
			sb.WriteByte('\n')
		}
		return nil
	}
	if err := walk(root, true); err != nil {
		return "", "", err
	}
	return header, sb.String(), nil
}
