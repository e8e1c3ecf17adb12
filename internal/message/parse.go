package message

import (
	"bytes"
	"io"
	"strings"
)

// Limits of the parser. Deeper or bigger structures still parse, with the
// excess treated as opaque content.
const (
	// MaxNesting is the deepest multipart / message/rfc822 nesting parsed;
	// a container deeper than this becomes an application/octet-stream leaf.
	MaxNesting = 100
	// maxParts caps the parts of one message; delimiters after that are
	// treated as content of the enclosing multipart.
	maxParts = 10000
	// maxHeader is how many octets of one header block are kept for field
	// parsing; the rest is skipped (offsets stay exact).
	maxHeader = 256 * 1024
	// Raw body octets kept for the preview.
	maxPlainCapture = 8 * 1024
	maxHTMLCapture  = 64 * 1024
)

// Parse reads a message (line ends normally CRLF; bare LF is tolerated) in
// one streaming pass and describes it: MIME tree with offsets, ENVELOPE,
// BODY and BODYSTRUCTURE renderings, header index and preview. Only the
// header blocks and a bounded prefix of the first text parts are held in
// memory. Malformed mail yields a best-effort result; the only errors are
// read errors from r.
//
// Delivery, APPEND and import call it once per message; it is safe for
// concurrent use (each call has its own state).
func Parse(r io.Reader) (*Parsed, error) {
	ps := &parser{lr: newLineReader(r)}
	root, fields := ps.parseEntity(0, false)
	// Nothing is active at the top, so the root ran to the end of input.
	if ps.lr.err != nil {
		return nil, ps.lr.err
	}
	p := &Parsed{Size: ps.lr.off, Root: root}
	p.EnvelopeIMAP = appendEnvelope(nil, fields)
	p.BodyIMAP = appendBody(nil, root, false)
	p.BodyStructureIMAP = appendBody(nil, root, true)
	p.Headers = buildHeaders(fields)
	p.Preview = ps.preview()
	return p, nil
}

// parser is the state of one Parse call.
type parser struct {
	lr     *lineReader
	bounds []string // active multipart boundaries, innermost last
	parts  int
	hdr    []byte // header block being read (reused)

	plain, html         []byte // captured raw body prefixes for the preview
	plainPart, htmlPart *Part  // the parts they come from
}

// parseEntity parses one entity (a message or a body part) starting at the
// current line: its header, then its body up to the next active boundary
// line or the end of input, which it leaves unconsumed. digest selects the
// multipart/digest default type (RFC 2046 §5.1.5).
func (ps *parser) parseEntity(depth int, digest bool) (*Part, *entityFields) {
	lr := ps.lr
	ps.parts++
	p := &Part{HeaderStart: lr.off}
	atBoundary := ps.readHeader()
	fields := parseEntityFields(ps.hdr)
	if atBoundary {
		// A boundary cut the header short; the CRLF before the boundary
		// belongs to it (RFC 2046 §5.1.1).
		p.BodyStart = max(p.HeaderStart, lr.off-int64(lr.prevEOL))
	} else {
		p.BodyStart = lr.off
	}
	ps.describe(p, fields, digest)
	lfStart := lr.lfs

	switch {
	case p.Type == "multipart":
		if depth >= MaxNesting {
			p.Type, p.Subtype = "application", "octet-stream"
			ps.scanLeaf(p)
			break
		}
		ps.parseMultipart(p, paramValue(p.Params, "boundary"), depth)
	case p.IsMessage():
		if depth >= MaxNesting || !identityEncoding(p.Encoding) {
			p.Type, p.Subtype = "application", "octet-stream"
			ps.scanLeaf(p)
			break
		}
		child, cf := ps.parseEntity(depth+1, false)
		p.Children = []*Part{child}
		p.EnvelopeIMAP = appendEnvelope(nil, cf)
	default:
		ps.scanLeaf(p)
	}
	ps.closeBody(p, lfStart)
	if p.Type == "multipart" && len(p.Children) == 0 {
		// No delimiter found: the body becomes one implicit text/plain
		// part, so BODY[1] works and BODYSTRUCTURE stays well-formed.
		p.Children = []*Part{{
			Type: "text", Subtype: "plain", Params: [][2]string{{"charset", "us-ascii"}},
			Encoding: "7BIT", HeaderStart: p.BodyStart, BodyStart: p.BodyStart, End: p.End, Lines: p.Lines,
		}}
	}
	if p.Type != "text" && !p.IsMessage() {
		p.Lines = 0
	}
	return p, fields
}

// readHeader reads a header block into ps.hdr (without the empty line that
// ends it, which is consumed). It reports whether an active boundary line
// ended the header instead (left unconsumed). The end of input also ends it.
func (ps *parser) readHeader() (atBoundary bool) {
	lr := ps.lr
	ps.hdr = ps.hdr[:0]
	sink := func(b []byte) {
		if room := maxHeader - len(ps.hdr); room > 0 {
			ps.hdr = append(ps.hdr, b[:min(room, len(b))]...)
		}
	}
	for {
		frag, ok := lr.peek()
		if !ok {
			return false
		}
		if isEmptyLine(frag) {
			lr.consume(nil)
			return false
		}
		if ps.boundaryIndex(frag) >= 0 {
			return true
		}
		lr.consume(sink)
	}
}

// scanLeaf skips a leaf body up to the next boundary line or the end,
// capturing a prefix for the preview when this is the chosen text part.
func (ps *parser) scanLeaf(p *Part) {
	lr := ps.lr
	var sink func([]byte)
	if p.Type == "text" && !strings.EqualFold(p.Disposition, "attachment") {
		var buf *[]byte
		limit := 0
		switch {
		case p.Subtype == "plain" && ps.plainPart == nil:
			ps.plainPart, buf, limit = p, &ps.plain, maxPlainCapture
		case p.Subtype == "html" && ps.htmlPart == nil && ps.plainPart == nil:
			ps.htmlPart, buf, limit = p, &ps.html, maxHTMLCapture
		}
		if buf != nil {
			sink = func(b []byte) {
				if room := limit - len(*buf); room > 0 {
					*buf = append(*buf, b[:min(room, len(b))]...)
				}
			}
		}
	}
	for {
		frag, ok := lr.peek()
		if !ok {
			return
		}
		if len(ps.bounds) > 0 && ps.boundaryIndex(frag) >= 0 {
			return
		}
		lr.consume(sink)
	}
}

// parseMultipart reads a multipart body: preamble, body parts between
// delimiter lines, close delimiter and epilogue (RFC 2046 §5.1.1). It stops
// at an enclosing boundary or the end; a missing close delimiter is fine.
func (ps *parser) parseMultipart(p *Part, boundary string, depth int) {
	lr := ps.lr
	if boundary == "" {
		ps.scanLeaf(p)
		return
	}
	ps.bounds = append(ps.bounds, boundary)
	me := len(ps.bounds) - 1
	defer func() { ps.bounds = ps.bounds[:me] }()
	digest := p.Subtype == "digest"
	closed := false
	for {
		frag, ok := lr.peek()
		if !ok {
			return
		}
		k := ps.boundaryIndex(frag)
		if k < 0 || closed || ps.parts >= maxParts {
			if k >= 0 && k != me {
				return // an enclosing part ends here
			}
			lr.consume(nil) // preamble, epilogue, or content past the limits
			continue
		}
		if k != me {
			return
		}
		isClose := isCloseDelimiter(frag, boundary)
		lr.consume(nil)
		if isClose {
			closed = true
			continue
		}
		child, _ := ps.parseEntity(depth+1, digest)
		p.Children = append(p.Children, child)
	}
}

// closeBody sets p.End and p.Lines once the body has been read: the reader
// is at a boundary line (the CRLF before it belongs to the delimiter) or at
// the end of input.
func (ps *parser) closeBody(p *Part, lfStart int64) {
	lr := ps.lr
	var lfs int64
	var partial bool
	if _, ok := lr.peek(); !ok {
		p.End = lr.off
		lfs = lr.lfs
		partial = lr.prevEOL == 0 && lr.prevContent
	} else {
		p.End = lr.off - int64(lr.prevEOL)
		lfs = lr.lfs
		if lr.prevEOL > 0 {
			lfs--
		}
		partial = lr.prevContent
	}
	if n := len(p.Children); n > 0 && p.Children[n-1].End > p.End {
		// A child whose header ran into the boundary kept its header's
		// final CRLF; the parent must still contain it.
		p.End = p.Children[n-1].End
	}
	if p.End <= p.BodyStart {
		p.End = p.BodyStart
		p.Lines = 0
		return
	}
	p.Lines = lfs - lfStart
	if partial {
		p.Lines++
	}
}

// boundaryIndex returns the index in ps.bounds of the boundary whose
// delimiter (or close delimiter) line is line, or -1. RFC 2046 §5.1.1 allows
// only white space after the boundary; like other servers we accept any
// line that starts with "--" and the boundary, since some mailers append
// junk, and take the longest matching boundary (innermost on a tie) so that
// nested boundaries that extend an outer one still work.
func (ps *parser) boundaryIndex(line []byte) int {
	if len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return -1
	}
	best := -1
	for k := len(ps.bounds) - 1; k >= 0; k-- {
		b := ps.bounds[k]
		if bytes.HasPrefix(line[2:], []byte(b)) && (best < 0 || len(b) > len(ps.bounds[best])) {
			best = k
		}
	}
	return best
}

func isCloseDelimiter(line []byte, boundary string) bool {
	return len(line) >= 4+len(boundary) && string(line[2+len(boundary):4+len(boundary)]) == "--"
}

// identityEncoding reports whether a message/rfc822 body with this
// Content-Transfer-Encoding can be parsed in place (RFC 2046 §5.2.1).
func identityEncoding(enc string) bool {
	switch enc {
	case "", "7BIT", "8BIT", "BINARY":
		return true
	}
	return false
}

// describe fills p's MIME fields from its header, with the RFC 2045 §5.2
// defaults (message/rfc822 inside multipart/digest).
func (ps *parser) describe(p *Part, f *entityFields, digest bool) {
	var mt string
	var params [][2]string
	if f.contentType.ok {
		mt, params = parseMIMEHeader(f.contentType.v)
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" || !isToken(typ) || !isToken(sub) {
		if digest {
			typ, sub, params = "message", "rfc822", nil
		} else {
			typ, sub = "text", "plain"
			cs := paramValue(params, "charset")
			params = nil
			if cs != "" {
				params = [][2]string{{"charset", cs}}
			}
		}
	}
	if typ == "text" && paramValue(params, "charset") == "" {
		// RFC 2046 §4.1.2: US-ASCII is assumed; say so, as other servers do.
		params = append(params, [2]string{"charset", "us-ascii"})
	}
	p.Type, p.Subtype, p.Params = typ, sub, params
	p.Encoding = "7BIT"
	if f.encoding.ok {
		enc, _ := parseMIMEHeader(f.encoding.v)
		if enc != "" {
			p.Encoding = asciiUpper(enc)
		}
	}
	p.ID = f.id.v
	p.Description = f.description.v
	p.MD5 = f.md5.v
	p.Location = f.location.v
	if f.disposition.ok {
		p.Disposition, p.DispositionParams = parseMIMEHeader(f.disposition.v)
		if !isToken(p.Disposition) {
			p.Disposition, p.DispositionParams = "", nil
		}
	}
	if f.language.ok {
		p.Language = parseLanguage(f.language.v)
	}
}

// parseLanguage splits a Content-Language value (RFC 3282) into tags.
func parseLanguage(v string) []string {
	lx := mimeLexer{s: v}
	var out []string
	for lx.i < len(v) {
		lx.skipCFWS()
		t := lx.token()
		if t != "" {
			out = append(out, t)
			continue
		}
		if lx.i < len(v) {
			lx.i++
		}
	}
	return out
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?=", c) >= 0 {
			return false
		}
	}
	return true
}
