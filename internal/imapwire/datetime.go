package imapwire

import (
	"strings"
	"time"
)

// DateTimeLayout is the date-time of RFC 9051 §9 (INTERNALDATE) for
// time.Format.
const DateTimeLayout = "02-Jan-2006 15:04:05 -0700"

// DateTime reads a quoted date-time ("dd-Mon-yyyy hh:mm:ss +zzzz"; the day
// may be space-padded or one digit).
func (d *Decoder) DateTime(out *time.Time) bool {
	var s string
	if c, ok := d.peek(); !ok || c != '"' {
		return false
	}
	if !d.Quoted(&s) {
		return false
	}
	s = strings.TrimLeft(s, " ")
	for _, layout := range []string{"2-Jan-2006 15:04:05 -0700", "02-Jan-2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			*out = t
			return true
		}
	}
	d.Errorf("invalid date-time")
	return false
}

// Date reads a date (date-text, optionally quoted): "1-Feb-1994".
func (d *Decoder) Date(out *time.Time) bool {
	var s string
	if c, ok := d.peek(); ok && c == '"' {
		if !d.Quoted(&s) {
			return false
		}
	} else if !d.Atom(&s) {
		return false
	}
	t, err := time.Parse("2-Jan-2006", s)
	if err != nil {
		d.Errorf("invalid date")
		return false
	}
	*out = t
	return true
}

// FormatDateTime formats t as an IMAP date-time (without quotes).
func FormatDateTime(t time.Time) string { return t.Format(DateTimeLayout) }
