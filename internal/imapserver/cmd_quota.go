package imapserver

// The QUOTA extension (RFC 9208): one quota root, "", per account, with
// STORAGE (in units of 1024 octets) and MESSAGE resources. Limits are set
// by the administrator (postern user quota), so SETQUOTA is refused.

// cmdGetQuotaRoot: GETQUOTAROOT mailbox (RFC 9208 §4.3).
func cmdGetQuotaRoot(s *session, c *command) error {
	d := s.dec
	var name string
	if !d.ExpectSP() || !d.ExpectMailbox(&name) || !d.ExpectCRLF() {
		return nil
	}
	mb, err := s.srv.opts.Store.Mailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	s.enc.Atom("* QUOTAROOT ").Mailbox(mb.Name).Atom(` ""`).CRLF()
	return s.writeQuota()
}

// cmdGetQuota: GETQUOTA root (RFC 9208 §4.2).
func cmdGetQuota(s *session, c *command) error {
	d := s.dec
	var root string
	if !d.ExpectSP() || !d.ExpectAString(&root) || !d.ExpectCRLF() {
		return nil
	}
	if root != "" {
		return errNo("NONEXISTENT", "No such quota root")
	}
	return s.writeQuota()
}

// cmdSetQuota: SETQUOTA is for administrators only (RFC 9208 §4.1).
func cmdSetQuota(s *session, c *command) error {
	d := s.dec
	var root string
	if !d.ExpectSP() || !d.ExpectAString(&root) || !d.ExpectSP() {
		return nil
	}
	if !d.ExpectList(func() bool {
		var res string
		var limit uint64
		return d.Atom(&res) && d.ExpectSP() && d.ExpectNumber64(&limit)
	}) || !d.ExpectCRLF() {
		return nil
	}
	return errNo("NOPERM", "Quotas are set by the administrator")
}

// writeQuota sends the account's QUOTA response.
func (s *session) writeQuota() error {
	st := s.srv.opts.Store
	acc, err := st.Account(s.ctx, s.account.Name)
	if err != nil {
		return err
	}
	use, err := st.Usage(s.ctx, s.account.ID)
	if err != nil {
		return err
	}
	e := &s.enc
	e.Atom(`* QUOTA "" (`)
	first := true
	item := func(name string, used, limit int64) {
		if limit <= 0 {
			return
		}
		if !first {
			e.SP()
		}
		first = false
		e.Atom(name).SP().Number64(uint64(used)).SP().Number64(uint64(limit))
	}
	item("STORAGE", (use.StorageBytes+1023)/1024, acc.Quota.StorageBytes/1024)
	item("MESSAGE", use.Messages, acc.Quota.Messages)
	e.Byte(')').CRLF()
	return nil
}
