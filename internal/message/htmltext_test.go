package message

import "testing"

func TestHTMLToText(t *testing.T) {
	for in, want := range map[string]string{
		"Hi <b>there</b>, <i>you</i>!": "Hi there, you!",
		"<p>one</p><p>two</p>":         " one  two ",
		"a<br>b":                       "a b",
		"<head><title>x</title></head>body &amp; <a href=\"/\">link</a>.": "body & link.",
		"<script>var a = '<b>';</script>text":                             "text",
		"<!-- note -->kept":                                               "kept",
	} {
		if got := HTMLToText(in); got != want {
			t.Errorf("HTMLToText(%q) = %q, want %q", in, got, want)
		}
	}
}
