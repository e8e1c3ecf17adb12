package imapserver

import (
	"io"
	"strings"
	"time"

	"github.com/postern/postern/internal/imapwire"
	"github.com/postern/postern/internal/store"
)

// maxAppendMessages bounds MULTIAPPEND (RFC 3502) messages per command.
const maxAppendMessages = 1000

// cmdAppend: APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502),
// literal8 (RFC 3516), APPENDLIMIT (RFC 7889) and APPENDUID (RFC 4315).
// Each message literal streams into Store.Stage; a synchronizing literal
// over the limit or to a missing mailbox is refused before the client
// sends it.
func cmdAppend(s *session, c *command) error {
	d := s.dec
	var name string
	if !d.ExpectSP() || !d.ExpectMailbox(&name) {
		return nil
	}
	st := s.srv.opts.Store
	mb, failure := st.Mailbox(s.ctx, s.account.ID, name)
	var reqs []store.AppendRequest
	for d.SP() {
		if len(reqs) >= maxAppendMessages {
			d.SetErr(&imapwire.LimitError{Msg: "too many messages in one APPEND"})
			return nil
		}
		req := store.AppendRequest{Account: s.account.ID, Mailbox: mb.ID}
		if b, ok := d.PeekByte(); ok && b == '(' {
			var flags []string
			if !d.FlagList(&flags) || !d.ExpectSP() {
				return nil
			}
			var err error
			if req.Flags, err = storableFlags(flags); err != nil && failure == nil {
				failure = err
			}
		}
		if b, ok := d.PeekByte(); ok && b == '"' {
			if !d.DateTime(&req.InternalDate) || !d.ExpectSP() {
				return nil
			}
		}
		var lit imapwire.Literal
		utf8Data := false
		if b, ok := d.PeekByte(); ok && (b == 'U' || b == 'u') {
			// RFC 6855 §4: "UTF8" SP "(" literal8 ")".
			var w string
			if !d.Atom(&w) || !strings.EqualFold(w, "UTF8") || !d.ExpectSP() || !d.ExpectSpecial('(') {
				d.Expect(false, "UTF8 (literal8)")
				return nil
			}
			utf8Data = true
		}
		if !d.Expect(d.LiteralHeader(&lit), "message literal") {
			return nil
		}
		if utf8Data && !lit.Binary {
			d.Errorf("UTF8 data must be a literal8")
			return nil
		}
		if lit.Size > s.srv.opts.MaxMessageSize {
			if lit.Sync {
				c.lineDone = true
				return errNo("TOOBIG", "Message exceeds APPENDLIMIT")
			}
			d.SetErr(&imapwire.LimitError{Msg: "message exceeds APPENDLIMIT", Fatal: true})
			return nil
		}
		if failure != nil && lit.Sync {
			c.lineDone = true
			return failure
		}
		body, ok := d.LiteralBody(lit)
		if !ok {
			return nil
		}
		if failure == nil {
			staged, err := st.Stage(s.ctx, body, s.srv.opts.MaxMessageSize)
			if err != nil {
				failure = err
			}
			req.Message = staged
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return nil // the decoder holds the read error
		}
		if utf8Data && !d.ExpectSpecial(')') {
			return nil
		}
		if req.InternalDate.IsZero() {
			req.InternalDate = time.Now()
		}
		reqs = append(reqs, req)
	}
	if !d.Expect(len(reqs) > 0, "message literal") || !d.ExpectCRLF() {
		return nil
	}
	if failure != nil {
		return failure
	}
	results, err := st.Append(s.ctx, reqs)
	if err != nil {
		return err
	}
	uids := make([]uint32, 0, len(results))
	var validity uint32
	for _, r := range results {
		if r.Err != nil {
			return r.Err
		}
		validity = r.UIDValidity
		uids = append(uids, uint32(r.UID))
	}
	c.code = "APPENDUID " + itoa(validity) + " " + imapwire.FormatNumSet(uids)
	return nil
}

// storableFlags checks flags a client wants stored: system flags must be
// known, \Recent is dropped (RFC 9051 §2.3.2), keywords are kept.
func storableFlags(flags []string) ([]string, error) {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			canon := ""
			for _, sf := range systemFlags {
				if strings.EqualFold(sf, f) {
					canon = sf
				}
			}
			if strings.EqualFold(f, `\Recent`) {
				continue
			}
			if canon == "" {
				return nil, errBad("Unknown system flag " + sanitize(f))
			}
			f = canon
		}
		if !hasFlag(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}
