package imapserver

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// TestAuthenticateSCRAM runs SCRAM-SHA-256 with an independent client: a
// mechanism whose last server message (server-final) comes with success.
func TestAuthenticateSCRAM(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	client, err := scram.SHA256.NewClient("alice", testPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	c.send("s1 AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString([]byte(first)) + "\r\n")
	for {
		l := c.readLine()
		if strings.HasPrefix(l, "s1 ") {
			if !strings.HasPrefix(l, "s1 OK") {
				t.Fatalf("scram: %q", l)
			}
			break
		}
		if !strings.HasPrefix(l, "+ ") {
			t.Fatalf("unexpected %q", l)
		}
		challenge, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := conv.Step(string(challenge))
		if err != nil {
			t.Fatalf("client step: %v", err)
		}
		c.send(base64.StdEncoding.EncodeToString([]byte(resp)) + "\r\n")
	}
	if !conv.Valid() {
		t.Fatal("server signature not verified")
	}
	c.ok("SELECT INBOX")
}
