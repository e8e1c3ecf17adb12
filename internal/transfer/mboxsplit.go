package transfer

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// MboxVariant says how an mbox file quotes body lines that begin with
// "From " (RFC 4155 §2 and the mboxrd convention):
//
//   - mboxo quotes only "From " lines (">From "), so a body line that was
//     ">From " already cannot be told apart; reading removes one ">" from
//     ">From " and leaves ">>From " alone.
//   - mboxrd quotes every line matching ^>*From  with one more ">", so
//     reading removes one ">" from every line matching ^>+From  and the
//     round trip is exact.
//
// The two agree on every file without ">>From " lines. MboxAuto reads
// mboxrd: a ">>From " line is far more often an escaped ">From " (a quoted
// line in a reply) than a doubly quoted one, and postern writes mboxrd.
type MboxVariant int

const (
	MboxAuto MboxVariant = iota
	MboxO
	MboxRD
)

// String names the variant as the CLI accepts it.
func (v MboxVariant) String() string {
	switch v {
	case MboxO:
		return "mboxo"
	case MboxRD:
		return "mboxrd"
	default:
		return "auto"
	}
}

// ParseMboxVariant reads "auto", "mboxo" or "mboxrd".
func ParseMboxVariant(s string) (MboxVariant, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return MboxAuto, nil
	case "mboxo", "o":
		return MboxO, nil
	case "mboxrd", "rd":
		return MboxRD, nil
	}
	return MboxAuto, errors.New("unknown mbox variant " + s + " (want auto, mboxo or mboxrd)")
}

// ErrNotMbox is returned by the splitter when the first non-blank line of a
// file is not a From_ line.
var ErrNotMbox = errors.New("not an mbox file: it does not start with a \"From \" line")

// splitterBuf is the line buffer of the splitter: lines longer than this are
// handled in fragments, so memory stays bounded whatever the input.
const splitterBuf = 64 << 10

// maxFromLine bounds what is kept of a From_ line.
const maxFromLine = 1000

// mboxSplitter reads an mbox stream one message at a time, never holding
// more than one line fragment: Next returns a message whose Body streams
// its un-escaped bytes straight from the input. A splitter is used by one
// goroutine.
//
// A message starts at a line beginning "From " that either follows a blank
// line (or the start of the file) or carries a date the From_ grammar
// accepts, so an unquoted "From " sentence inside a paragraph stays in the
// body. The blank line before a From_ line (and at the end of the file)
// belongs to the separator, not to the message (RFC 4155 §2).
//
// mboxcl2 files (Dovecot's and Solaris' mbox) do not quote "From " lines
// but give each body's size in a Content-Length header. When that size
// ends the body exactly before a separator (or the end of the file), the
// body is taken as it is; otherwise the header is ignored.
type mboxSplitter struct {
	lr       *lineReader
	ra       io.ReaderAt // the input, when it allows random access
	variant  MboxVariant
	next     string // From_ line of the message Next returns next
	nextAt   int64
	haveNext bool
	started  bool
	body     *mboxBody
}

// mboxMessage is one message of an mbox file.
type mboxMessage struct {
	// From is the From_ line without "From " and its line end.
	From string
	// Offset is where the From_ line starts in the file.
	Offset int64
	// Body yields the message, un-escaped; valid until the next Next.
	Body io.Reader
	body *mboxBody
}

// contentLengthUsed reports whether the body's end came from a
// Content-Length header (known once the header has been read).
func (m *mboxMessage) contentLengthUsed() bool { return m.body.rawLeft >= 0 }

// newMboxSplitter reads r from its start. When r is also an io.ReaderAt
// (a file), Content-Length headers are checked and used (see step).
func newMboxSplitter(r io.Reader, v MboxVariant) *mboxSplitter {
	ra, _ := r.(io.ReaderAt)
	return &mboxSplitter{lr: newLineReader(r, splitterBuf), ra: ra, variant: v}
}

// Consumed is how many input bytes the splitter has read so far.
func (s *mboxSplitter) Consumed() int64 { return s.lr.consumed }

// Next returns the next message, or io.EOF after the last one. Unread bytes
// of the previous message are skipped.
func (s *mboxSplitter) Next() (*mboxMessage, error) {
	if s.body != nil {
		if _, err := io.Copy(io.Discard, s.body); err != nil {
			return nil, err
		}
		s.body = nil
	}
	if !s.started {
		s.started = true
		if err := s.findFirst(); err != nil {
			return nil, err
		}
	}
	if !s.haveNext {
		return nil, io.EOF
	}
	s.haveNext = false
	s.body = &mboxBody{s: s, contentLength: -1, rawLeft: -1}
	return &mboxMessage{From: s.next, Offset: s.nextAt, Body: s.body, body: s.body}, nil
}

// findFirst skips leading blank lines and reads the first From_ line.
func (s *mboxSplitter) findFirst() error {
	for {
		frag, start, complete, err := s.lr.next()
		if err == io.EOF {
			return nil // empty file: no messages
		}
		if err != nil {
			return err
		}
		if start && complete && isBlankLine(frag) {
			continue
		}
		if !start || !bytes.HasPrefix(frag, []byte("From ")) {
			return ErrNotMbox
		}
		s.nextAt = s.lr.consumed - int64(len(frag))
		return s.takeFromLine(frag, complete)
	}
}

// takeFromLine records the From_ line starting with frag, reading (and
// discarding past maxFromLine) the rest of a long line.
func (s *mboxSplitter) takeFromLine(frag []byte, complete bool) error {
	line := append([]byte(nil), frag[len("From "):min(len(frag), maxFromLine)]...)
	for !complete {
		var err error
		frag, _, complete, err = s.lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if room := maxFromLine - len(line); room > 0 {
			line = append(line, frag[:min(room, len(frag))]...)
		}
	}
	s.next = string(trimEOL(line))
	s.haveNext = true
	return nil
}

// mboxBody streams one message of a splitter.
type mboxBody struct {
	s            *mboxSplitter
	pre, cur     []byte // bytes to hand out, pre first
	pendingBlank []byte // a blank line held back: it ends the message if a From_ line follows
	prevBlank    bool
	// bodyStarted: the blank line ending the header was seen.
	bodyStarted bool
	// contentLength is the header's Content-Length (-1: none); rawLeft
	// counts the body bytes still to pass through untouched when it is
	// trusted (-1: not).
	contentLength, rawLeft int64
	done                   bool
	err                    error
}

var (
	blankLF   = []byte("\n")
	blankCRLF = []byte("\r\n")
)

func (b *mboxBody) Read(p []byte) (int, error) {
	for len(b.pre) == 0 && len(b.cur) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.done {
			return 0, io.EOF
		}
		b.step()
	}
	n := 0
	if len(b.pre) > 0 {
		n = copy(p, b.pre)
		b.pre = b.pre[n:]
	}
	if len(b.pre) == 0 && n < len(p) {
		m := copy(p[n:], b.cur)
		b.cur = b.cur[m:]
		n += m
	}
	return n, nil
}

// step reads one fragment and decides what of it belongs to the message.
func (b *mboxBody) step() {
	s := b.s
	if b.rawLeft > 0 {
		p, err := s.lr.raw(b.rawLeft)
		if err != nil {
			if err == io.EOF {
				b.done = true // truncated file: keep what there is
			} else {
				b.err = err
			}
			return
		}
		b.rawLeft -= int64(len(p))
		b.cur = p
		b.prevBlank = false
		return
	}
	frag, start, complete, err := s.lr.next()
	if err == io.EOF {
		b.done = true // the held-back blank line was the final separator
		return
	}
	if err != nil {
		b.err = err
		return
	}
	if !start {
		b.cur = frag
		return
	}
	if bytes.HasPrefix(frag, []byte("From ")) && (b.prevBlank || complete && isFromLine(trimEOL(frag[5:]))) {
		b.done = true
		s.nextAt = s.lr.consumed - int64(len(frag))
		b.err = s.takeFromLine(frag, complete)
		return
	}
	if b.pendingBlank != nil {
		b.pre, b.pendingBlank = b.pendingBlank, nil
	}
	if complete && isBlankLine(frag) {
		if !b.bodyStarted {
			b.bodyStarted = true
			if b.contentLength >= 0 && s.contentLengthFits(b.contentLength) {
				// mboxcl2 (Dovecot, Solaris): the body is the next
				// Content-Length bytes, taken as they are.
				b.cur = frag
				b.rawLeft = b.contentLength
				return
			}
		}
		b.prevBlank = true
		if len(frag) == 1 {
			b.pendingBlank = blankLF
		} else {
			b.pendingBlank = blankCRLF
		}
		return
	}
	if !b.bodyStarted && complete {
		if n, ok := contentLengthField(frag); ok {
			b.contentLength = n
		}
	}
	b.prevBlank = false
	b.cur = unescapeFrom(frag, s.variant)
}

// contentLengthField parses a "Content-Length: n" header line.
func contentLengthField(line []byte) (int64, bool) {
	const name = "content-length:"
	if len(line) < len(name) || !strings.EqualFold(string(line[:len(name)]), name) {
		return 0, false
	}
	v := strings.TrimSpace(string(line[len(name):]))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return 0, false
	}
	return n, true
}

// contentLengthFits reports whether a body of n bytes starting at the
// current position ends where a message may end: at the end of the file,
// or before a blank line and a From_ line. Only then is a Content-Length
// header trusted, as mail readers do; it needs random access to the input.
func (s *mboxSplitter) contentLengthFits(n int64) bool {
	if s.ra == nil {
		return false
	}
	end := s.lr.consumed + n
	var buf [8]byte
	m, err := s.ra.ReadAt(buf[:], end-1)
	if m < 1 || err != nil && err != io.EOF {
		return false // the body would run past the end of the file
	}
	rest := buf[1:m]
	switch {
	case len(rest) == 0, string(rest) == "\n", string(rest) == "\r\n":
		return m < len(buf) // the end of the file
	case bytes.HasPrefix(rest, []byte("\nFrom ")), bytes.HasPrefix(rest, []byte("\r\nFrom ")):
		return true
	}
	return false
}

// unescapeFrom removes the quoting ">" of a line start (see MboxVariant).
func unescapeFrom(line []byte, v MboxVariant) []byte {
	if len(line) == 0 || line[0] != '>' {
		return line
	}
	i := 1
	if v != MboxO {
		for i < len(line) && line[i] == '>' {
			i++
		}
	}
	if bytes.HasPrefix(line[i:], []byte("From ")) {
		return line[1:]
	}
	return line
}

// needsFromQuote reports whether a line must get one more ">" in mboxrd.
func needsFromQuote(line []byte) bool {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return bytes.HasPrefix(line[i:], []byte("From "))
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// isFromLine reports whether the rest of a From_ line (after "From ")
// carries a date, which is what tells a separator from a body sentence.
func isFromLine(rest []byte) bool {
	_, _, ok := parseFromLine(string(rest))
	return ok
}

var weekdays = [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// fromDateLayouts are the date forms found after the sender of a From_
// line: asctime (RFC 4155 §2: "Mon Jan  2 15:04:05 2006", in UTC when no
// zone is given) and the variants with a zone that some writers add.
var fromDateLayouts = [...]string{
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Mon Jan 2 15:04:05 2006 -0700",
	"Mon Jan 2 15:04:05 2006 MST",
	"Mon Jan 2 15:04 2006",
	"Mon, 2 Jan 2006 15:04:05 -0700",
}

// parseFromLine splits the rest of a From_ line ("sender date [extra]")
// into the envelope sender and the date.
func parseFromLine(rest string) (sender string, date time.Time, ok bool) {
	if len(rest) > maxFromLine {
		return "", time.Time{}, false
	}
	fields := strings.Fields(rest)
	for i, f := range fields {
		day := strings.TrimSuffix(f, ",")
		isDay := false
		for _, w := range weekdays {
			if strings.EqualFold(day, w) {
				isDay = true
				break
			}
		}
		if !isDay {
			continue
		}
		for n := 7; n >= 5; n-- {
			if i+n > len(fields) {
				continue
			}
			s := strings.Join(fields[i:i+n], " ")
			for _, layout := range fromDateLayouts {
				if t, err := time.Parse(layout, s); err == nil {
					return strings.Join(fields[:i], " "), t, true
				}
			}
		}
	}
	return "", time.Time{}, false
}

// formatFromLine renders a From_ line (with its LF) for sender and date;
// the date is written in UTC, as parseFromLine reads a zoneless date.
func formatFromLine(sender string, date time.Time) string {
	if sender == "" || strings.ContainsAny(sender, " \t\r\n") {
		sender = "MAILER-DAEMON"
	}
	return "From " + sender + " " + date.UTC().Format("Mon Jan _2 15:04:05 2006") + "\n"
}
