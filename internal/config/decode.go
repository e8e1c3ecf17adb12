package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is one problem in a configuration file: the key it concerns, the
// line of that key (0 when unknown) and what is wrong.
type Error struct {
	File string
	Key  string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// maxReported caps how many errors one Parse reports.
const maxReported = 20

// Load reads and parses the file at path (see Parse).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(data)
	if err != nil {
		var errs []error
		for _, e := range unwrapAll(err) {
			if ce, ok := e.(*Error); ok {
				ce.File = path
			}
			errs = append(errs, e)
		}
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// Parse decodes a TOML document over Default and validates the result. Every
// error is an *Error (several are joined with errors.Join) naming the key
// and, where it can be found, its line.
func Parse(data []byte) (Config, error) {
	c := Default()
	src := string(data)
	md, err := toml.Decode(src, &c)
	if err != nil {
		return Config{}, decodeError(src, err)
	}
	lines := keyLines(src)
	var errs []error
	for _, k := range md.Undecoded() {
		if len(errs) == maxReported {
			break
		}
		errs = append(errs, &Error{Key: k.String(), Line: lines.find(k), Msg: "unknown key"})
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if err := c.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			if ce, ok := e.(*Error); ok && ce.Line == 0 {
				ce.Line = lines.find(strings.Split(ce.Key, "."))
			}
		}
		return Config{}, err
	}
	return c, nil
}

// decodeError turns a toml error (syntax, or a value of the wrong type)
// into an *Error.
func decodeError(src string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := pe.Position.Line
		if line == 0 {
			line = pe.Line
		}
		return &Error{Key: pe.LastKey, Line: line, Msg: pe.Message}
	}
	// Type mismatches come as "toml: line N (last key "k"): msg".
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	e := &Error{Msg: msg}
	var rest string
	if n, _ := fmt.Sscanf(msg, "line %d", &e.Line); n == 1 {
		if i := strings.Index(msg, "): "); i >= 0 {
			rest = msg[i+3:]
		}
	}
	if i := strings.Index(msg, "(last key \""); i >= 0 {
		k := msg[i+len("(last key \""):]
		if j := strings.Index(k, "\")"); j >= 0 {
			e.Key = k[:j]
			if rest != "" {
				e.Msg = rest
			}
		}
	}
	if e.Line == 0 && e.Key != "" {
		e.Line = keyLines(src).find(strings.Split(e.Key, "."))
	}
	return e
}

// unwrapAll lists the errors joined in err.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
