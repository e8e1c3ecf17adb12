package imapserver

import "strconv"

// commandSpec says where a command is legal and how it runs.
type commandSpec struct {
	states state
	run    func(s *session, c *command) error
	// noExpunge: EXPUNGE responses must wait (FETCH, STORE, SEARCH by
	// sequence number, RFC 9051 §7.5); UID variants are exempt.
	noExpunge bool
	// noSync: the handler reports updates itself (IDLE, LOGOUT).
	noSync bool
}

const (
	anyState   = stateNotAuthenticated | stateAuthenticated | stateSelected
	authState  = stateAuthenticated | stateSelected
	selectedSt = stateSelected
)

// commands is the one table from command name to handler and the states
// it is legal in. It is never modified.
var commands = map[string]commandSpec{
	"CAPABILITY":     {states: anyState, run: cmdCapability},
	"NOOP":           {states: anyState, run: cmdNoop},
	"LOGOUT":         {states: anyState, run: cmdLogout, noSync: true},
	"ID":             {states: anyState, run: cmdID},
	"STARTTLS":       {states: stateNotAuthenticated, run: cmdStartTLS, noSync: true},
	"LOGIN":          {states: stateNotAuthenticated, run: cmdLogin},
	"AUTHENTICATE":   {states: stateNotAuthenticated, run: cmdAuthenticate},
	"ENABLE":         {states: authState, run: cmdEnable},
	"UNAUTHENTICATE": {states: authState, run: cmdUnauthenticate, noSync: true},
	"COMPRESS":       {states: authState, run: cmdCompress, noSync: true},
	"SELECT":         {states: authState, run: cmdSelect, noSync: true},
	"EXAMINE":        {states: authState, run: cmdSelect, noSync: true},
	"CREATE":         {states: authState, run: cmdCreate},
	"DELETE":         {states: authState, run: cmdDelete},
	"RENAME":         {states: authState, run: cmdRename},
	"SUBSCRIBE":      {states: authState, run: cmdSubscribe},
	"UNSUBSCRIBE":    {states: authState, run: cmdSubscribe},
	"LIST":           {states: authState, run: cmdList},
	"LSUB":           {states: authState, run: cmdLsub},
	"NAMESPACE":      {states: authState, run: cmdNamespace},
	"STATUS":         {states: authState, run: cmdStatus},
	"APPEND":         {states: authState, run: cmdAppend},
	"GETQUOTAROOT":   {states: authState, run: cmdGetQuotaRoot},
	"GETQUOTA":       {states: authState, run: cmdGetQuota},
	"SETQUOTA":       {states: authState, run: cmdSetQuota},
	"IDLE":           {states: authState, run: cmdIdle, noSync: true},
	"NOTIFY":         {states: authState, run: cmdNotify},
	"CHECK":          {states: selectedSt, run: cmdNoop},
	"CLOSE":          {states: selectedSt, run: cmdClose, noSync: true},
	"UNSELECT":       {states: selectedSt, run: cmdClose, noSync: true},
	"EXPUNGE":        {states: selectedSt, run: cmdExpunge},
	"UID EXPUNGE":    {states: selectedSt, run: cmdExpunge},
	"SEARCH":         {states: selectedSt, run: uidRequired(cmdSearch), noExpunge: true},
	"UID SEARCH":     {states: selectedSt, run: cmdSearch},
	"FETCH":          {states: selectedSt, run: uidRequired(cmdFetch), noExpunge: true},
	"UID FETCH":      {states: selectedSt, run: cmdFetch},
	"STORE":          {states: selectedSt, run: uidRequired(cmdStore), noExpunge: true},
	"UID STORE":      {states: selectedSt, run: cmdStore},
	"SORT":           {states: selectedSt, run: uidRequired(cmdSort), noExpunge: true},
	"UID SORT":       {states: selectedSt, run: cmdSort},
	"THREAD":         {states: selectedSt, run: uidRequired(cmdThread), noExpunge: true},
	"UID THREAD":     {states: selectedSt, run: cmdThread},
	"COPY":           {states: selectedSt, run: uidRequired(cmdCopy)},
	"UID COPY":       {states: selectedSt, run: cmdCopy},
	"MOVE":           {states: selectedSt, run: uidRequired(cmdCopy)},
	"UID MOVE":       {states: selectedSt, run: cmdCopy},
}

// capabilities lists what the session advertises now (RFC 9051 §7.2.2);
// it changes with TLS and authentication.
func (s *session) capabilities() []string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE"}
	if s.state == stateNotAuthenticated {
		if s.info.TLS == nil && s.srv.opts.TLSConfig != nil {
			caps = append(caps, "STARTTLS")
		}
		if !s.srv.opts.Auth.PlaintextAllowed(s.info) {
			caps = append(caps, "LOGINDISABLED")
		}
		for _, m := range s.srv.opts.Auth.Mechanisms(s.info) {
			caps = append(caps, "AUTH="+m)
		}
		return caps
	}
	return append(caps,
		"IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN",
		"LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CREATE-SPECIAL-USE",
		"ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC", "BINARY", "MULTIAPPEND",
		"APPENDLIMIT="+strconv.FormatInt(s.srv.opts.MaxMessageSize, 10),
		"UTF8=ACCEPT", "STATUS=SIZE", "SAVEDATE", "PREVIEW", "OBJECTID",
		"COMPRESS=DEFLATE", "UNAUTHENTICATE", "UIDONLY", "NOTIFY", "INPROGRESS", "SORT", "SORT=DISPLAY", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "WITHIN")
}
