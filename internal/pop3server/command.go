package pop3server

import (
	"strconv"
	"strings"
)

// stateSet is a set of states a command is allowed in.
type stateSet uint8

func states(sts ...state) stateSet {
	var set stateSet
	for _, st := range sts {
		set |= 1 << st
	}
	return set
}

func (set stateSet) has(st state) bool { return set&(1<<st) != 0 }

// command is one entry of the command table.
type command struct {
	allowed stateSet
	// handle runs the command with the text after "NAME " (may be "").
	// A non-nil error ends the session after the queued output is
	// flushed.
	handle func(s *session, arg string) error
}

// commands is the state table: every command with the states it is legal
// in (RFC 1939 §4-6, RFC 2449, RFC 5034, RFC 2595, RFC 6856).
var commands = map[string]command{
	"CAPA": {states(stateAuthorization, stateTransaction), (*session).cmdCapa},
	"QUIT": {states(stateAuthorization, stateTransaction), (*session).cmdQuit},
	"USER": {states(stateAuthorization), (*session).cmdUser},
	"PASS": {states(stateAuthorization), (*session).cmdPass},
	"APOP": {states(stateAuthorization), (*session).cmdApop},
	"AUTH": {states(stateAuthorization), (*session).cmdAuth},
	"STLS": {states(stateAuthorization), (*session).cmdStls},
	"UTF8": {states(stateAuthorization), (*session).cmdUTF8},
	"STAT": {states(stateTransaction), (*session).cmdStat},
	"LIST": {states(stateTransaction), (*session).cmdList},
	"UIDL": {states(stateTransaction), (*session).cmdUidl},
	"RETR": {states(stateTransaction), (*session).cmdRetr},
	"TOP":  {states(stateTransaction), (*session).cmdTop},
	"DELE": {states(stateTransaction), (*session).cmdDele},
	"RSET": {states(stateTransaction), (*session).cmdRset},
	"NOOP": {states(stateTransaction), (*session).cmdNoop},
}

// parseCommand splits a command line into its upper-cased keyword and the
// rest after one space (RFC 1939 §3: keywords are case-insensitive, 3-4
// characters; extensions may be longer). ok is false when the keyword is
// not a plain word of letters and digits.
func parseCommand(line []byte) (name, arg string, ok bool) {
	i := 0
	for i < len(line) && line[i] != ' ' {
		c := line[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') || i >= 16 {
			return "", "", false
		}
		i++
	}
	if i == 0 {
		return "", "", false
	}
	name = strings.ToUpper(string(line[:i]))
	if i < len(line) {
		arg = string(line[i+1:])
	}
	return name, arg, true
}

// dispatch runs one command line.
func (s *session) dispatch(line []byte) error {
	name, arg, ok := parseCommand(line)
	if !ok {
		s.reply("-ERR Unknown command")
		return nil
	}
	cmd, known := commands[name]
	if !known {
		s.reply("-ERR Unknown command: ", sanitize(name))
		return nil
	}
	if !cmd.allowed.has(s.state) {
		s.reply("-ERR ", name, " not allowed in ", s.state.String(), " state")
		return nil
	}
	return cmd.handle(s, arg)
}

// fields splits arguments separated by spaces (RFC 1939 §3 asks for one;
// runs of spaces are tolerated).
func fields(arg string) []string { return strings.Fields(arg) }

// parseMsgNum parses a message number: decimal digits only (RFC 1939
// §4), no sign.
func parseMsgNum(s string) (int, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
