package config

import (
	"errors"
	"testing"
)

// FuzzConfig feeds arbitrary documents to Parse: it must never panic, every
// failure must be a *Error, and every success must validate.
func FuzzConfig(f *testing.F) {
	f.Add(Example())
	f.Add("")
	f.Add("data_dir = \"x\"\n[listen]\nimap = \"\"\n")
	f.Add("[limits]\nmax_message_size = \"2G\"\nconnections_per_ip = 3\n")
	f.Add("[[tls.certificate]]\ncert = \"a\"\nkey = \"b\"\n")
	f.Add("[auth]\ntrusted_networks = [\"10.0.0.0/8\", \"::1\"]\n")
	f.Add("a = \"\"\"\nmulti\n\"\"\"\n[b]\nc = [\n1,\n2]\n")
	f.Add("[pop3]\nexpire = 5\nlogin_delay = 60\n")
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse([]byte(doc))
		if err != nil {
			for _, e := range unwrapAll(err) {
				var ce *Error
				if !errors.As(e, &ce) {
					t.Fatalf("error %T %v is not a *Error", e, e)
				}
				if ce.Error() == "" {
					t.Fatal("empty message")
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
	})
}
