package message

import "testing"

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in    string
		base  string
		reply bool
	}{
		{"Hello", "Hello", false},
		{"Re: Hello", "Hello", true},
		{"RE:   Hello  world ", "Hello world", true},
		{"Fwd: Re: Hello", "Hello", true},
		{"Fw: hello (fwd)", "hello", true},
		{"[list] Re: Hello", "Hello", true},
		{"Re[2]: Hello", "Hello", true},
		{"[Fwd: Hello]", "Hello", true},
		{"[Fwd: Re: [x] Hello] (fwd)", "Hello", true},
		{"[only a blob]", "[only a blob]", false},
		{"[tag] subject", "subject", false},
		{"Reply needed", "Reply needed", false},
		{"re:", "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		base, reply := BaseSubject(tt.in)
		if base != tt.base || reply != tt.reply {
			t.Errorf("BaseSubject(%q) = %q, %v; want %q, %v", tt.in, base, reply, tt.base, tt.reply)
		}
	}
}

func TestFirstAddress(t *testing.T) {
	tests := []struct{ in, name, mailbox, host string }{
		{`"Joe" <joe@x.test>, b@y.test`, "Joe", "joe", "x.test"},
		{`Group: =?utf-8?q?J=C3=B6rg?= <j@x.test>;`, "Jörg", "j", "x.test"},
		{`bare`, "", "bare", ""},
	}
	for _, tt := range tests {
		name, mb, host, ok := FirstAddress(tt.in)
		if !ok || name != tt.name || mb != tt.mailbox || host != tt.host {
			t.Errorf("FirstAddress(%q) = %q %q %q %v", tt.in, name, mb, host, ok)
		}
	}
	if _, _, _, ok := FirstAddress("undisclosed-recipients:;"); ok {
		t.Errorf("empty group has a first address")
	}
}
