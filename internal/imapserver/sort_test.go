package imapserver

import (
	"fmt"
	"testing"
)

func threadMessage(id, subject, refs, date string) string {
	h := fmt.Sprintf("From: x@example.com\r\nSubject: %s\r\nMessage-ID: <%s@x>\r\nDate: %s\r\n", subject, id, date)
	if refs != "" {
		h += "References: " + refs + "\r\n"
	}
	return h + "\r\nbody\r\n"
}

func TestSortAndThread(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.login()
	c.appendMsg("INBOX", "", threadMessage("a", "Zebra", "", "Mon, 1 Jan 2024 10:00:00 +0000"))
	c.appendMsg("INBOX", "", threadMessage("b", "Re: Zebra", "<a@x>", "Mon, 1 Jan 2024 11:00:00 +0000"))
	c.appendMsg("INBOX", "", threadMessage("c", "apple", "", "Sun, 31 Dec 2023 10:00:00 +0000"))
	c.appendMsg("INBOX", "", threadMessage("d", "Re: Zebra", "<a@x> <b@x>", "Mon, 1 Jan 2024 12:00:00 +0000"))
	c.appendMsg("INBOX", "", threadMessage("e", "Re: Zebra", "<a@x>", "Mon, 1 Jan 2024 13:00:00 +0000"))
	c.ok("SELECT INBOX")
	cases := map[string]string{
		"SORT (SUBJECT) UTF-8 ALL":                  "* SORT 3 1 2 4 5",
		"SORT (REVERSE DATE) UTF-8 ALL":             "* SORT 5 4 2 1 3",
		"SORT (ARRIVAL) US-ASCII NOT 2":             "* SORT 1 3 4 5",
		"UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL": "* SORT 3 5 4 2 1",
		"THREAD ORDEREDSUBJECT UTF-8 ALL":           "* THREAD (3)(1 (2)(4)(5))",
		"THREAD REFERENCES UTF-8 ALL":               "* THREAD (3)(1 (2 4)(5))",
	}
	for cmd, want := range cases {
		u := c.ok(cmd)
		if len(u) != 1 || u[0] != want {
			t.Errorf("%s: got %q, want %q", cmd, u, want)
		}
	}
	c.bad("SORT () UTF-8 ALL")
	c.bad("SORT (BOGUS) UTF-8 ALL")
	c.bad("THREAD BOGUS UTF-8 ALL")
	c.no("SORT (DATE) KOI8-R ALL")
}
