package imapserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzSession replays random input in each session state against a real
// server and store: the first octet picks the state (not authenticated,
// authenticated, selected). The server must neither crash nor hang, and
// must keep serving new connections.
func FuzzSession(f *testing.F) {
	seeds := []string{
		"\x00a CAPABILITY\r\nb NOOP\r\n",
		"\x00a LOGIN alice x\r\nb AUTHENTICATE PLAIN\r\n*\r\n",
		"\x00a STARTTLS\r\n",
		"\x01a LIST \"\" *\r\nb CREATE x\r\nc RENAME x y\r\nd DELETE y\r\n",
		"\x01a APPEND INBOX (\\Seen) {5+}\r\nhello\r\n",
		"\x01a STATUS INBOX (MESSAGES UIDNEXT)\r\nb IDLE\r\nDONE\r\n",
		"\x02a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)]<0.10>)\r\n",
		"\x02a UID SEARCH RETURN (SAVE) OR SEEN NOT FROM x\r\nb FETCH $ UID\r\n",
		"\x02a STORE 1 +FLAGS (\\Deleted)\r\nb EXPUNGE\r\nc CLOSE\r\n",
		"\x02a COPY 1:* INBOX\r\nb MOVE 1 Trash\r\nc UID EXPUNGE 1:*\r\n",
		"\x02a FETCH 1 BINARY[1]\r\nb SEARCH CHARSET UTF-8 TEXT {3+}\r\nabc\r\n",
		"\x01a NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER]) MessageExpunge)) (subtree (a b) (MailboxName))\r\nb IDLE\r\nDONE\r\nc NOTIFY NONE\r\n",
		"\x02a ENABLE UIDONLY\r\nb FETCH 1 FLAGS\r\nc UID FETCH 1:* (FLAGS)\r\nd SEARCH {1+}\r\n1\r\n",
		"\x01a ENABLE QRESYNC\r\nb SELECT INBOX (QRESYNC (1 1 1:* (1:3 1,2,3)))\r\nc UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	ts := newTestServer(f)
	setup := ts.login()
	setup.appendMsg("INBOX", "", testMessage(1))
	setup.appendMsg("INBOX", `\Seen`, multipartMessage)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		mode, in := in[0]%3, in[1:]
		// Failed logins are throttled by design (growing delays per
		// address); keep random input from tripping the throttle, which
		// would look like a hang. Login paths have their own tests.
		in = bytes.ReplaceAll(bytes.ToUpper(in), []byte("LOGIN"), []byte("LOGXN"))
		in = bytes.ReplaceAll(in, []byte("AUTHENTICATE"), []byte("AUTHENTICATX"))
		conn, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		prefix := ""
		if mode >= 1 {
			prefix += fmt.Sprintf("f1 LOGIN alice \"%s\"\r\n", testPassword)
		}
		if mode == 2 {
			prefix += "f2 SELECT INBOX\r\n"
		}
		go func() {
			io.WriteString(conn, prefix)
			conn.Write(in)
			io.WriteString(conn, "\r\nzz LOGOUT\r\n")
			conn.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(conn)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("session hung; output so far %q", out)
			}
		}
		if !strings.HasPrefix(string(out), "* OK") {
			t.Fatalf("no greeting: %q", out)
		}
		// The server still serves.
		c2, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		tc := &tconn{t: t, c: c2, r: bufio.NewReader(c2)}
		if g := tc.readLine(); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting after fuzz input: %q", g)
		}
		tc.ok("NOOP")
	})
}
