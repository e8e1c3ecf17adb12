package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/postern/postern/internal/store"
)

// plusSeparator splits a local part into user and detail (RFC 5233
// subaddressing): "ann+lists" reaches account "ann". The detail does not
// choose a mailbox; mail goes to INBOX (letting senders pick folders such as
// Trash by address would be a surprise).
const plusSeparator = '+'

// Errors from resolving a recipient (test with errors.Is).
var (
	// ErrUnknownUser: no account matches the recipient.
	ErrUnknownUser = errors.New("unknown user")
	// errForeignDomain: the recipient's domain is not one of Options.Domains.
	errForeignDomain = errors.New("domain not local")
)

// splitAddress cuts an address at its last '@' (a quoted local part may
// itself hold '@'). The domain comes back lower case without a trailing dot;
// it is "" for a bare local part.
func splitAddress(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], strings.TrimSuffix(strings.ToLower(addr[i+1:]), ".")
}

// accountCandidates lists the account names an address may name, most
// specific first: the lower-cased local part, the same without its
// +detail, then the whole address (for sites whose logins are addresses)
// with and without the detail. Duplicates are left out.
func accountCandidates(local, domain string) []string {
	local = strings.ToLower(local)
	if local == "" {
		return nil
	}
	names := []string{local}
	add := func(n string) {
		for _, have := range names {
			if have == n {
				return
			}
		}
		names = append(names, n)
	}
	base := local
	if i := strings.IndexByte(local, plusSeparator); i > 0 {
		base = local[:i]
		add(base)
	}
	if domain != "" {
		add(local + "@" + domain)
		add(base + "@" + domain)
	}
	return names
}

// domainSet builds the local-domain lookup from Options.Domains; nil means
// every domain is local.
func domainSet(domains []string) map[string]bool {
	if len(domains) == 0 {
		return nil
	}
	m := make(map[string]bool, len(domains))
	for _, d := range domains {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d != "" {
			m[d] = true
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// isLocal reports whether domain is served here. A bare local part (no
// domain) is local.
func isLocal(domains map[string]bool, domain string) bool {
	return domains == nil || domain == "" || domains[domain]
}

// findAccount resolves an address to an account: the candidates of
// accountCandidates in order. It returns ErrUnknownUser when none exists,
// or the store's error when a lookup failed for another reason.
func findAccount(ctx context.Context, st store.Store, local, domain string) (store.Account, error) {
	for _, name := range accountCandidates(local, domain) {
		acct, err := st.Account(ctx, name)
		if err == nil {
			return acct, nil
		}
		if !errors.Is(err, store.ErrNoAccount) {
			return store.Account{}, err
		}
	}
	return store.Account{}, fmt.Errorf("%w: %q", ErrUnknownUser, local)
}

// checkQuota reports store.ErrOverQuota when the account is already full,
// or would be with size more octets (size 0: unknown). It costs a Usage
// call only for accounts that have a quota.
func checkQuota(ctx context.Context, st store.Store, acct store.Account, size int64) error {
	q := acct.Quota
	if q.StorageBytes <= 0 && q.Messages <= 0 {
		return nil
	}
	u, err := st.Usage(ctx, acct.ID)
	if err != nil {
		return err
	}
	if q.Messages > 0 && u.Messages >= q.Messages {
		return store.ErrOverQuota
	}
	if q.StorageBytes > 0 && u.StorageBytes+size > q.StorageBytes {
		return store.ErrOverQuota
	}
	if q.StorageBytes > 0 && u.StorageBytes >= q.StorageBytes {
		return store.ErrOverQuota
	}
	return nil
}

// sanitizeHeaderValue makes an envelope address safe to place in a header
// field: control characters (CR, LF, NUL, ...) become '?', so a crafted
// address cannot start a new header line.
func sanitizeHeaderValue(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

// traceHeader is the header block prepended to a delivered message:
// Return-Path with the envelope sender (RFC 5321 §4.4; "<>" for the null
// reverse-path) and Delivered-To with the envelope recipient, as Postfix
// local(8) and Dovecot write it. withReturnPath false leaves Return-Path
// out (local delivery without a known sender).
func traceHeader(sender string, withReturnPath bool, rcpt string) []byte {
	var b strings.Builder
	if withReturnPath {
		b.WriteString("Return-Path: <")
		b.WriteString(sanitizeHeaderValue(sender))
		b.WriteString(">\r\n")
	}
	if rcpt != "" {
		b.WriteString("Delivered-To: ")
		b.WriteString(sanitizeHeaderValue(rcpt))
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}
