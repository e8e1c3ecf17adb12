package message

// IsMultipart reports whether p is a multipart container with children.
func (p *Part) IsMultipart() bool {
	return p.Type == "multipart" && len(p.Children) > 0
}

// IsMessage reports whether p is an encapsulated message (message/rfc822
// or message/global, RFC 9051 §7.5.2); after Parse such a part always has
// exactly one child, the encapsulated message's root.
func (p *Part) IsMessage() bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

// Param returns the value of a Content-Type parameter (name lower case).
func (p *Part) Param(name string) string { return paramValue(p.Params, name) }

// Section returns the part that an IMAP section part number names (RFC 9051
// §6.4.5), with p the root part of a message; nil if there is no such part.
// An empty path returns p. In a non-multipart message part 1 is the body
// itself; the numbers after a message/rfc822 part address the encapsulated
// message. For BODY[n.HEADER] / BODY[n.TEXT] on a message/rfc822 part, use
// its Children[0] (header HeaderStart..BodyStart, text BodyStart..End); for
// BODY[n.MIME], the part's own HeaderStart..BodyStart.
//
// The IMAP layer calls it; it only reads p.
func (p *Part) Section(path []int) *Part {
	cur := p
	atMessage := true // cur is the root of a (possibly encapsulated) message
	for i, n := range path {
		var next *Part
		switch {
		case cur.IsMultipart():
			if n < 1 || n > len(cur.Children) {
				return nil
			}
			next = cur.Children[n-1]
		case atMessage && n == 1:
			next = cur
		default:
			return nil
		}
		if i == len(path)-1 {
			return next
		}
		switch {
		case next.IsMessage() && len(next.Children) == 1:
			cur, atMessage = next.Children[0], true
		case next.IsMultipart() && next != cur:
			cur, atMessage = next, false
		default:
			return nil
		}
	}
	return cur
}
