package pop3server

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/auth"
	"github.com/postern/postern/internal/store"
)

// FuzzSession replays arbitrary client input against a real server and
// store, in every state the input reaches. Whatever it sends, the server
// must answer and close cleanly, release the maildrop, and delete nothing
// unless a QUIT was sent after a login.
func FuzzSession(f *testing.F) {
	e := newEnv(f)
	e.appendTo(e.acct, "INBOX", testMessage(1, 3), testMessage(2, 6), []byte("X: y\r\n\r\n.\r\n"))
	login := "USER " + testUser + "\r\nPASS " + testPass + "\r\n"
	for _, s := range []string{
		"CAPA\r\nQUIT\r\n",
		login + "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 3\r\nNOOP\r\n",
		login + "DELE 1\r\nRSET\r\nDELE 2\r\nLIST 2\r\n",
		login + "DELE 3\r\nQUIT\r\n",
		"AUTH PLAIN\r\n*\r\nAUTH PLAIN " + plainResp(testUser, testPass) + "\r\nRETR 3\r\n",
		"\x00\xff\r\n" + strings.Repeat("A", 2000) + "\nUSER\r\n",
		"UTF8\r\nSTLS\r\nAPOP a b\r\n" + login + "TOP 1 0\r\nTOP 1 99999999999\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		e.t = t // inputs run one at a time
		// A fresh server and auth service per input, so the failed-login
		// throttle of one input does not slow the next.
		as := auth.New(store.CredentialSource{Store: e.st, UnknownUser: auth.ErrUnknownUser}, auth.Config{})
		srv := New(Options{Store: e.st, Auth: as})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		before := len(e.inboxRefs(e.acct))
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		done := make(chan []byte)
		go func() {
			out, _ := io.ReadAll(conn)
			done <- out
		}()
		conn.Write(input)
		conn.(*net.TCPConn).CloseWrite()
		out := <-done
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if !bytes.HasPrefix(out, []byte("+OK")) {
			t.Fatalf("no greeting: %q", out)
		}
		for _, l := range bytes.Split(out, []byte("\r\n")) {
			if bytes.Contains(l, []byte("panic")) || bytes.Contains(l, []byte(".go:")) {
				t.Fatalf("internal detail leaked: %q", l)
			}
		}
		after := len(e.inboxRefs(e.acct))
		if after != before && !bytes.Contains(bytes.ToUpper(input), []byte("QUIT")) {
			t.Fatalf("messages went from %d to %d without QUIT", before, after)
		}
		for i := after; i < 3; i++ {
			e.appendTo(e.acct, "INBOX", testMessage(10+i, 2))
		}
		srv.mu.Lock()
		locked := len(srv.locked)
		srv.mu.Unlock()
		if locked != 0 {
			t.Fatal("maildrop still locked after the session ended")
		}
	})
}
