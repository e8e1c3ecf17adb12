package sqlite

import (
	"bytes"
	"io"
	"net/mail"
	"strings"

	"github.com/postern/postern/internal/message"
)

// parseMessage is a stand-in until message.Parse lands: it fills the
// header index and a single text part so the store can be exercised.
func parseMessage(r io.Reader) (*message.Parsed, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	bodyStart := int64(len(b))
	if end >= 0 {
		bodyStart = int64(end + 4)
	}
	p := &message.Parsed{
		Size:              int64(len(b)),
		Root:              &message.Part{Type: "text", Subtype: "plain", Encoding: "7BIT", BodyStart: bodyStart, End: int64(len(b))},
		EnvelopeIMAP:      []byte("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
		BodyIMAP:          []byte(`("text" "plain" NIL NIL NIL "7bit" 0 0)`),
		BodyStructureIMAP: []byte(`("text" "plain" NIL NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`),
	}
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return p, nil
	}
	h := m.Header
	p.Headers = message.Headers{
		From: h.Get("From"), To: h.Get("To"), Cc: h.Get("Cc"), Subject: h.Get("Subject"),
		MessageID: strings.TrimSpace(h.Get("Message-Id")), InReplyTo: h.Get("In-Reply-To"),
		References: strings.Fields(h.Get("References")),
	}
	if d, err := h.Date(); err == nil {
		p.Headers.Date = d
	}
	return p, nil
}
