package imapserver

import (
	"slices"
	"strings"

	"github.com/postern/postern/internal/store"
)

// NOTIFY (RFC 5465). A session with NOTIFY set keeps its hub subscription
// while authenticated, not only while a mailbox is selected; sync hands it
// the events about other mailboxes, which become STATUS and LIST
// responses. Events about the selected mailbox keep their usual form
// (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS), plus the FETCH items a
// "selected" group asks for with MessageNew; "selected-delayed" is served
// as "selected" (expunges wait for a command that allows them anyway),
// and a "selected" group with NONE does not silence those usual updates.
//
// Supported events: MessageNew, MessageExpunge, FlagChange, MailboxName,
// SubscriptionChange. There is no METADATA, so MailboxMetadataChange and
// ServerMetadataChange (and AnnotationChange) get NO [BADEVENT].

// notifyFilter is a filter-mailboxes of RFC 5465 §6.
type notifyFilter uint8

const (
	filterSelected notifyFilter = iota + 1
	filterSelectedDelayed
	filterInboxes
	filterPersonal
	filterSubscribed
	filterSubtree
	filterMailboxes
)

// notifyEvents is the set of events of one event group.
type notifyEvents struct {
	messageNew, messageExpunge, flagChange bool
	mailboxName, subscriptionChange        bool
}

// notifyGroup is one event group: a filter and the events it wants.
type notifyGroup struct {
	filter notifyFilter
	names  []string // subtree / mailboxes filters, canonical
	events notifyEvents
	// fetch are the FETCH items of "MessageNew (...)" for the selected
	// mailbox (RFC 5465 §5.2).
	fetch []fetchAtt
}

// notifySpec is what NOTIFY SET asked for.
type notifySpec struct {
	selected *notifyGroup // the selected / selected-delayed group, or nil
	others   []notifyGroup
}

// supportedEvents is the BADEVENT response code (RFC 5465 §5.9).
const supportedEvents = "BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)"

// canonicalName makes INBOX (and its children) compare as one spelling.
func canonicalName(name string) string {
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || name[5] == store.Separator) {
		return "INBOX" + name[5:]
	}
	return name
}

// cmdNotify: NOTIFY SET [STATUS] event-groups / NOTIFY NONE (RFC 5465 §3).
func cmdNotify(s *session, c *command) error {
	d := s.dec
	var verb string
	if !d.ExpectSP() || !d.ExpectAtom(&verb) {
		return nil
	}
	switch strings.ToUpper(verb) {
	case "NONE":
		if !d.ExpectCRLF() {
			return nil
		}
		s.setNotify(nil)
		return nil
	case "SET":
	default:
		d.Errorf("expected SET or NONE")
		return nil
	}
	spec := &notifySpec{}
	withStatus := false
	var unsupported bool
	for d.SP() {
		if b, ok := d.PeekByte(); ok && b != '(' {
			var w string
			if !d.ExpectAtom(&w) {
				return nil
			}
			if !strings.EqualFold(w, "STATUS") || withStatus || spec.selected != nil || len(spec.others) > 0 {
				d.Errorf("unexpected %s", sanitize(w))
				return nil
			}
			withStatus = true
			continue
		}
		var g notifyGroup
		if !s.readNotifyGroup(&g, &unsupported) {
			return nil
		}
		if g.filter == filterSelected || g.filter == filterSelectedDelayed {
			if spec.selected != nil {
				d.Errorf("selected given twice")
				return nil
			}
			spec.selected = &g
		} else {
			spec.others = append(spec.others, g)
		}
	}
	if !d.Expect(spec.selected != nil || len(spec.others) > 0, "event group") || !d.ExpectCRLF() {
		return nil
	}
	if unsupported {
		return errNo(supportedEvents, "Unsupported event")
	}
	for _, g := range append(slices.Clip(spec.others), *orEmpty(spec.selected)) {
		ev := g.events
		// RFC 5465 §5: MessageNew and MessageExpunge go together, and
		// FlagChange needs both.
		if ev.messageNew != ev.messageExpunge || ev.flagChange && !ev.messageNew {
			return errBad("MessageNew and MessageExpunge must be given together, and with FlagChange")
		}
	}
	s.setNotify(spec)
	if withStatus {
		// RFC 5465 §3: STATUS for every mailbox the message events cover.
		return s.notifyStatusAll()
	}
	return nil
}

func orEmpty(g *notifyGroup) *notifyGroup {
	if g == nil {
		return &notifyGroup{}
	}
	return g
}

// readNotifyGroup reads "(" filter-mailboxes SP events ")".
func (s *session) readNotifyGroup(g *notifyGroup, unsupported *bool) bool {
	d := s.dec
	var f string
	if !d.ExpectSpecial('(') || !d.ExpectAtom(&f) {
		return false
	}
	switch strings.ToLower(f) {
	case "selected":
		g.filter = filterSelected
	case "selected-delayed":
		g.filter = filterSelectedDelayed
	case "inboxes":
		g.filter = filterInboxes
	case "personal":
		g.filter = filterPersonal
	case "subscribed":
		g.filter = filterSubscribed
	case "subtree", "mailboxes":
		g.filter = filterMailboxes
		if strings.EqualFold(f, "subtree") {
			g.filter = filterSubtree
		}
		if !d.ExpectSP() {
			return false
		}
		one := func() bool {
			var name string
			if !d.ExpectMailbox(&name) {
				return false
			}
			g.names = append(g.names, canonicalName(name))
			return true
		}
		if b, ok := d.PeekByte(); ok && b == '(' {
			if !d.ExpectList(one) {
				return false
			}
		} else if !one() {
			return false
		}
	default:
		d.Errorf("unknown mailbox filter %s", sanitize(f))
		return false
	}
	if !d.ExpectSP() {
		return false
	}
	if b, ok := d.PeekByte(); ok && b != '(' {
		var none string
		if !d.ExpectAtom(&none) || !d.Expect(strings.EqualFold(none, "NONE"), "NONE") {
			return false
		}
		return d.ExpectSpecial(')')
	}
	if !d.ExpectSpecial('(') {
		return false
	}
	for {
		var ev string
		if !d.ExpectAtom(&ev) {
			return false
		}
		switch strings.ToLower(ev) {
		case "messagenew":
			g.events.messageNew = true
			if d.SP() {
				if b, ok := d.PeekByte(); ok && b == '(' {
					req := &fetchRequest{}
					if !d.ExpectList(func() bool { return s.readFetchAtt(req) }) {
						return false
					}
					g.fetch = req.atts
					if !d.SP() {
						return d.ExpectSpecial(')') && d.ExpectSpecial(')')
					}
				}
				continue
			}
			return d.ExpectSpecial(')') && d.ExpectSpecial(')')
		case "messageexpunge":
			g.events.messageExpunge = true
		case "flagchange":
			g.events.flagChange = true
		case "mailboxname":
			g.events.mailboxName = true
		case "subscriptionchange":
			g.events.subscriptionChange = true
		default:
			*unsupported = true
		}
		if !d.SP() {
			break
		}
	}
	return d.ExpectSpecial(')') && d.ExpectSpecial(')')
}

// setNotify installs spec (nil: NOTIFY NONE) and keeps the hub
// subscription only while something needs it.
func (s *session) setNotify(spec *notifySpec) {
	s.notify = spec
	switch {
	case spec != nil && s.sub == nil:
		s.sub = s.srv.opts.Store.Hub().Subscribe(s.account.ID)
	case spec == nil && s.sel == nil && s.sub != nil:
		s.sub.Close()
		s.sub = nil
	}
}

// notifyMatcher answers which event group covers a mailbox; it loads the
// subscriptions once, when a "subscribed" filter needs them.
type notifyMatcher struct {
	s      *session
	subs   []string
	loaded bool
}

// group returns the first non-selected group whose filter covers name
// (RFC 5465 §6: the selected mailbox is covered only by "selected").
func (m *notifyMatcher) group(name string) *notifyGroup {
	s := m.s
	name = canonicalName(name)
	if s.sel != nil && canonicalName(s.sel.mbox.Name) == name {
		return nil
	}
	for i := range s.notify.others {
		g := &s.notify.others[i]
		switch g.filter {
		case filterPersonal:
			return g
		case filterInboxes:
			if name == "INBOX" {
				return g
			}
		case filterSubscribed:
			if !m.loaded {
				m.subs, _ = s.srv.opts.Store.Subscriptions(s.ctx, s.account.ID)
				m.loaded = true
			}
			for _, sub := range m.subs {
				if canonicalName(sub) == name {
					return g
				}
			}
		case filterMailboxes:
			if slices.Contains(g.names, name) {
				return g
			}
		case filterSubtree:
			for _, top := range g.names {
				if name == top || strings.HasPrefix(name, top+string(store.Separator)) {
					return g
				}
			}
		}
	}
	return nil
}

// notifyOthers turns hub events about mailboxes other than the selected
// one into untagged responses (RFC 5465 §5): STATUS for message events,
// LIST for MailboxName and SubscriptionChange. After an overflow every
// covered mailbox gets a STATUS.
func (s *session) notifyOthers(events []store.Event, overflowed bool) error {
	if overflowed {
		return s.notifyStatusAll()
	}
	m := &notifyMatcher{s: s}
	var selID store.MailboxID = -1
	if s.sel != nil {
		selID = s.sel.mbox.ID
	}
	var order []store.MailboxID
	kinds := map[store.MailboxID]notifyEvents{}
	for _, ev := range events {
		switch ev.Kind {
		case store.EventAppend, store.EventExpunge, store.EventFlags:
			if ev.Mailbox == selID {
				continue
			}
			k, seen := kinds[ev.Mailbox]
			if !seen {
				order = append(order, ev.Mailbox)
			}
			switch ev.Kind {
			case store.EventAppend:
				k.messageNew = true
			case store.EventExpunge:
				k.messageExpunge = true
			default:
				k.flagChange = true
			}
			kinds[ev.Mailbox] = k
		case store.EventMailboxCreate, store.EventMailboxDelete, store.EventMailboxRename:
			g := m.group(ev.Name)
			if g == nil && ev.OldName != "" {
				g = m.group(ev.OldName)
			}
			if g == nil || !g.events.mailboxName {
				continue
			}
			e := &s.enc
			switch ev.Kind {
			case store.EventMailboxDelete:
				e.Atom(`* LIST (\NonExistent) "/" `).Mailbox(ev.Name).CRLF()
			case store.EventMailboxRename:
				// RFC 5465 §5.4 with the OLDNAME extended data of RFC 9051.
				e.Atom(`* LIST () "/" `).Mailbox(ev.Name).Atom(` ("OLDNAME" (`).Mailbox(ev.OldName).Atom("))").CRLF()
			default:
				e.Atom(`* LIST () "/" `).Mailbox(ev.Name).CRLF()
			}
		case store.EventSubscribe:
			g := m.group(ev.Name)
			if g == nil || !g.events.subscriptionChange {
				continue
			}
			subs, err := s.srv.opts.Store.Subscriptions(s.ctx, s.account.ID)
			if err != nil {
				return err
			}
			attr := "()"
			if slices.ContainsFunc(subs, func(n string) bool { return canonicalName(n) == canonicalName(ev.Name) }) {
				attr = `(\Subscribed)`
			}
			s.enc.Atom("* LIST ").Atom(attr).Atom(` "/" `).Mailbox(ev.Name).CRLF()
		}
	}
	for _, id := range order {
		mb, err := s.srv.opts.Store.MailboxByID(s.ctx, s.account.ID, id)
		if err != nil {
			continue // deleted since; MailboxName tells of that
		}
		g := m.group(mb.Name)
		if g == nil {
			continue
		}
		k := kinds[id]
		if k.messageNew && g.events.messageNew || k.messageExpunge && g.events.messageExpunge || k.flagChange && g.events.flagChange {
			if err := s.writeStatus(mb, s.notifyStatusItems()); err != nil {
				return err
			}
		}
	}
	return nil
}

// notifyStatusItems are the STATUS items of a notification (RFC 5465
// §5.1-5.3), with HIGHESTMODSEQ once CONDSTORE is on.
func (s *session) notifyStatusItems() statusItems {
	items := statusItems{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
	if s.enabled.condstore {
		items = append(items, "HIGHESTMODSEQ")
	}
	return items
}

// notifyStatusAll sends STATUS for every mailbox a group with message
// events covers (NOTIFY SET STATUS, and after a hub overflow).
func (s *session) notifyStatusAll() error {
	mbs, err := s.srv.opts.Store.Mailboxes(s.ctx, s.account.ID)
	if err != nil {
		return err
	}
	m := &notifyMatcher{s: s}
	for _, mb := range mbs {
		if g := m.group(mb.Name); g != nil && g.events.messageNew {
			if err := s.writeStatus(mb, s.notifyStatusItems()); err != nil {
				return err
			}
		}
	}
	return nil
}

// notifyNewMessages sends the FETCH items a "selected" group asked for
// with MessageNew, for messages just announced by EXISTS.
func (s *session) notifyNewMessages(v *view, added []store.MessageRef) error {
	if s.notify == nil || s.notify.selected == nil || len(s.notify.selected.fetch) == 0 || len(added) == 0 {
		return nil
	}
	atts := s.notify.selected.fetch
	var opts store.FetchOptions
	for _, a := range atts {
		switch a.kind {
		case fetchEnvelope:
			opts.Envelope = true
		case fetchBody, fetchBodyStructure:
			opts.BodyStructure = true
		case fetchSection, fetchBinary, fetchBinarySize:
			opts.Structure = true
		case fetchPreview:
			opts.Preview = true
		}
	}
	uids := make([]store.UID, len(added))
	for i, r := range added {
		uids[i] = r.UID
	}
	return s.srv.opts.Store.Fetch(s.ctx, s.account.ID, v.mbox.ID, uids, opts, func(m *store.Message) error {
		if i := v.index(m.UID); i >= 0 {
			if err := s.writeFetch(v, i, m, atts, false); err != nil {
				if _, ok := err.(*respError); !ok {
					return err
				}
			}
		}
		return nil
	})
}
