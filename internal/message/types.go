// Package message parses an RFC 5322 message once, at delivery, into
// everything the access protocols need later without opening the body again:
// the IMAP ENVELOPE and BODYSTRUCTURE (already rendered in IMAP syntax, RFC
// 3501 §7.4.2 / RFC 9051 §7.5.2), the MIME part tree with byte offsets for
// BODY[1.2]-style section fetches, an index of the searchable headers and a
// preview (RFC 8970).
//
// Parsing never fails on ugly mail: broken boundaries, raw 8-bit headers,
// missing headers and deep nesting all yield a best-effort result. Only an
// I/O error from the reader is returned.
//
// The package is stateless and safe for concurrent use.
package message

import "time"

// Parsed is what Parse learns from one message. The stored message itself
// is kept elsewhere (blob) byte for byte; Parsed only describes it.
type Parsed struct {
	// Size is the message size in octets as stored (CRLF line ends).
	Size int64 `json:"size"`

	// Root is the top-level part: for a single-part message its body, for a
	// multipart message the multipart container. Root.HeaderStart is 0.
	Root *Part `json:"root"`

	// EnvelopeIMAP is the ENVELOPE of the message in IMAP syntax, starting
	// with "(" and ending with ")", ready to be written after "ENVELOPE ".
	EnvelopeIMAP []byte `json:"-"`
	// BodyIMAP is the non-extensible BODY form; BodyStructureIMAP the full
	// BODYSTRUCTURE with all extension data. Both start with "(".
	BodyIMAP          []byte `json:"-"`
	BodyStructureIMAP []byte `json:"-"`

	// Headers is the index of searchable header fields.
	Headers Headers `json:"-"`

	// Preview is RFC 8970 preview text: at most 200 Unicode characters of
	// the first textual part, decoded to UTF-8, whitespace folded.
	Preview string `json:"-"`
}

// Headers holds decoded (UTF-8) values of the header fields SEARCH and SORT
// use. Address fields hold the whole decoded field value ("Name <a@b>, ...").
type Headers struct {
	From, Sender, ReplyTo, To, Cc, Bcc string
	Subject                            string
	// Date is the parsed Date: field; zero when absent or unparseable.
	Date       time.Time
	MessageID  string   // with angle brackets, as in the header
	InReplyTo  string   // raw field value
	References []string // message-ids with angle brackets, in order
}

// Part is one node of the MIME tree. Offsets are absolute octet positions in
// the stored message.
type Part struct {
	// MIME type, lower case ("text", "plain"). Defaults per RFC 2045 when
	// absent or invalid: text/plain (message/rfc822 inside
	// multipart/digest). A multipart or message/rfc822 part nested deeper
	// than MaxNesting, and a message/rfc822 part with a base64 or
	// quoted-printable encoding, is parsed as an opaque
	// application/octet-stream leaf. A multipart whose boundary never
	// occurs gets one implicit text/plain child spanning its body.
	Type    string `json:"t"`
	Subtype string `json:"st"`
	// Params are Content-Type parameters in header order, names lower case,
	// values decoded per RFC 2231 where needed (continuations joined,
	// charset converted to UTF-8). A text/* part without a charset gets
	// ("charset", "us-ascii") appended (RFC 2046 §4.1.2).
	Params      [][2]string `json:"p,omitempty"`
	ID          string      `json:"id,omitempty"`
	Description string      `json:"d,omitempty"`
	// Encoding is the Content-Transfer-Encoding, upper case ("7BIT" default).
	Encoding string `json:"e,omitempty"`
	MD5      string `json:"md5,omitempty"`

	Disposition       string      `json:"disp,omitempty"`
	DispositionParams [][2]string `json:"dp,omitempty"`
	Language          []string    `json:"lang,omitempty"`
	Location          string      `json:"loc,omitempty"`

	// HeaderStart..BodyStart is this part's MIME header (including the blank
	// line that ends it); BodyStart..End is its body. For the root part
	// HeaderStart..BodyStart is the message header. Inside a multipart the
	// CRLF before a boundary line belongs to the delimiter, not the part
	// (RFC 2046 §5.1.1). See Section for IMAP part numbers.
	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	End         int64 `json:"end"`
	// Lines is the number of lines in the body (text/* and message/rfc822):
	// its LFs, plus one for a last line without a line end.
	Lines int64 `json:"l,omitempty"`

	// Children are the sub-parts of a multipart, or for message/rfc822 the
	// single encapsulated message's root part.
	Children []*Part `json:"c,omitempty"`
	// EnvelopeIMAP is the encapsulated message's ENVELOPE (message/rfc822).
	EnvelopeIMAP []byte `json:"env,omitempty"`
}
