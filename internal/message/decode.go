package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KnownTransferEncoding reports whether NewTransferDecoder understands enc
// (RFC 2045 §6); the IMAP layer answers BINARY fetches of other encodings
// with [UNKNOWN-CTE] (RFC 3516 §4.3).
func KnownTransferEncoding(enc string) bool {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return true
	}
	return false
}

// NewTransferDecoder returns a reader that undoes Content-Transfer-Encoding
// enc (case-insensitive) on r. Decoding is lenient and never fails on bad
// input: base64 ignores characters outside its alphabet, quoted-printable
// keeps malformed escapes as they are. Identity and unknown encodings
// return r itself. Errors from r are passed on.
func NewTransferDecoder(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return base64.NewDecoder(base64.RawStdEncoding, &base64Filter{r: r})
	case "quoted-printable":
		return &qpReader{br: bufio.NewReader(r)}
	}
	return r
}

// base64Filter passes on only the octets of the base64 alphabet; padding,
// line ends and junk are dropped (RFC 2045 §6.8 says to ignore them).
type base64Filter struct {
	r io.Reader
}

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// qpReader decodes quoted-printable (RFC 2045 §6.7) line by line:
// "=XX" escapes, soft line breaks ("=" at the end of a line, also before
// bare LF), trailing white space dropped; anything malformed passes through.
type qpReader struct {
	br    *bufio.Reader
	out   []byte // decoded, not yet returned
	carry []byte // undecoded tail of a long line ("=" or "=X")
	line  []byte // scratch for carry + next piece
	err   error
}

func (q *qpReader) Read(p []byte) (int, error) {
	for len(q.out) == 0 {
		if q.err != nil {
			return 0, q.err
		}
		piece, err := q.br.ReadSlice('\n')
		line := piece
		if len(q.carry) > 0 {
			q.line = append(append(q.line[:0], q.carry...), piece...)
			line = q.line
			q.carry = q.carry[:0]
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line arrives in pieces: decode this one, but keep an
			// escape cut in two for the next round.
			cut := len(line)
			if i := bytes.LastIndexByte(line, '='); i >= 0 && i >= len(line)-2 {
				cut = i
			}
			q.carry = append(q.carry, line[cut:]...)
			q.out = qpDecode(q.out[:0], line[:cut], false)
			continue
		}
		q.err = err
		q.out = qpDecode(q.out[:0], line, true)
	}
	n := copy(p, q.out)
	q.out = q.out[n:]
	return n, nil
}

// qpDecode appends the decoding of one line (with its line end, if any).
func qpDecode(dst, line []byte, whole bool) []byte {
	body := line
	eol := ""
	if whole {
		switch {
		case bytes.HasSuffix(body, []byte("\r\n")):
			body, eol = body[:len(body)-2], "\r\n"
		case bytes.HasSuffix(body, []byte("\n")):
			body, eol = body[:len(body)-1], "\n"
		}
		body = bytes.TrimRight(body, " \t")
		if bytes.HasSuffix(body, []byte("=")) {
			body, eol = body[:len(body)-1], "" // soft line break
		}
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '=' && i+2 < len(body) {
			h, ok1 := unhex(body[i+1])
			l, ok2 := unhex(body[i+2])
			if ok1 && ok2 {
				dst = append(dst, h<<4|l)
				i += 2
				continue
			}
		}
		dst = append(dst, c)
	}
	return append(dst, eol...)
}

// DecodeText returns the text of a part's body as UTF-8: transfer-decoded
// and converted from the part's charset (kept as is when unknown, invalid
// UTF-8 replaced), at most limit octets of output. raw is the whole stored
// message. The store calls it to build the full-text index; it is safe for
// concurrent use if raw is. Only read errors from raw are returned.
func DecodeText(part *Part, raw io.ReaderAt, limit int64) (string, error) {
	if part == nil || limit <= 0 || part.End <= part.BodyStart {
		return "", nil
	}
	src := &errRecorder{r: io.NewSectionReader(raw, part.BodyStart, part.End-part.BodyStart)}
	r := NewTransferDecoder(part.Encoding, src)
	if part.Type == "text" {
		r, _ = charsetReader(part.Param("charset"), r)
	}
	var sb strings.Builder
	_, _ = io.Copy(&sb, io.LimitReader(r, limit))
	if src.err != nil {
		return "", src.err
	}
	out := sb.String()
	if !utf8.ValidString(out) {
		// A cut at the limit may split a character; elsewhere invalid
		// octets come from unlabeled 8-bit text.
		out = strings.ToValidUTF8(out, "\uFFFD")
	}
	return out, nil
}

// errRecorder remembers the first real read error of r, so decoding
// errors can be told from I/O errors.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// previewLen is the RFC 8970 §3 maximum preview length in characters.
const previewLen = 200

// preview builds the RFC 8970 preview from the captured text parts: the
// first text/plain part, else the first text/html part without markup.
func (ps *parser) preview() string {
	if ps.plainPart != nil {
		if s := foldPreview(decodeCaptured(ps.plainPart, ps.plain)); s != "" {
			return s
		}
	}
	if ps.htmlPart != nil {
		return foldPreview(HTMLToText(decodeCaptured(ps.htmlPart, ps.html)))
	}
	return ""
}

func decodeCaptured(p *Part, raw []byte) string {
	var r io.Reader = bytes.NewReader(raw)
	r = NewTransferDecoder(p.Encoding, r)
	r, _ = charsetReader(p.Param("charset"), r)
	out, _ := io.ReadAll(r)
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// foldPreview folds white space runs to one space, drops control
// characters and cuts to previewLen characters.
func foldPreview(s string) string {
	var sb strings.Builder
	n := 0
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = sb.Len() > 0
			continue
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			continue
		}
		if space {
			if n+1 >= previewLen {
				break
			}
			sb.WriteByte(' ')
			n++
			space = false
		}
		sb.WriteRune(r)
		n++
		if n >= previewLen {
			break
		}
	}
	return sb.String()
}

// HTMLToText strips tags, comments, and the content of head, script and
// style elements from HTML, decodes character references, and puts a space
// where a tag other than an inline one (inlineTags) was. It is a preview- and search-grade converter, not a
// renderer; safe for concurrent use.
func HTMLToText(s string) string {
	var sb strings.Builder
	i := 0
	skipUntil := "" // closing tag whose content is skipped
	for i < len(s) {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			if skipUntil == "" {
				sb.WriteString(html.UnescapeString(s[i:]))
			}
			break
		}
		if skipUntil == "" {
			sb.WriteString(html.UnescapeString(s[i : i+lt]))
		}
		i += lt
		if strings.HasPrefix(s[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		gt := strings.IndexByte(s[i:], '>')
		if gt < 0 {
			break
		}
		tag := strings.ToLower(s[i+1 : i+gt])
		i += gt + 1
		name := strings.TrimLeft(tag, "/")
		if k := strings.IndexAny(name, " \t\r\n/"); k >= 0 {
			name = name[:k]
		}
		closing := strings.HasPrefix(tag, "/")
		if skipUntil != "" {
			if closing && name == skipUntil {
				skipUntil = ""
			}
			continue
		}
		if !closing && (name == "head" || name == "script" || name == "style" || name == "title") {
			skipUntil = name
			continue
		}
		if !inlineTags[name] {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

// inlineTags are elements that do not break a word: "<b>bold</b>," reads
// "bold,", not "bold ,".
var inlineTags = map[string]bool{
	"a": true, "abbr": true, "b": true, "bdi": true, "bdo": true, "cite": true,
	"code": true, "data": true, "dfn": true, "em": true, "font": true, "i": true,
	"kbd": true, "mark": true, "q": true, "s": true, "samp": true, "small": true,
	"span": true, "strike": true, "strong": true, "sub": true, "sup": true,
	"time": true, "tt": true, "u": true, "var": true,
}
