package message

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fetchServer is a minimal IMAP peer on 127.0.0.1 that answers every FETCH
// with the renderings of one parsed message, so that go-imap's client, an
// independent implementation of the RFC 9051 grammar, parses our ENVELOPE,
// BODY and BODYSTRUCTURE.
func fetchServer(t *testing.T, p *Parsed) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		w := bufio.NewWriter(conn)
		r := bufio.NewReader(conn)
		fmt.Fprintf(w, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
		w.Flush()
		for i := 0; i < 10; i++ {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, cmd, _ := strings.Cut(strings.TrimSpace(line), " ")
			upper := strings.ToUpper(cmd)
			switch {
			case strings.HasPrefix(upper, "LOGOUT"):
				fmt.Fprintf(w, "* BYE\r\n%s OK bye\r\n", tag)
				w.Flush()
				return
			case strings.Contains(upper, "FETCH"):
				resp := []byte("* 1 FETCH (ENVELOPE ")
				resp = append(resp, p.EnvelopeIMAP...)
				if strings.Contains(upper, "BODYSTRUCTURE") {
					resp = append(resp, " BODYSTRUCTURE "...)
					resp = append(resp, p.BodyStructureIMAP...)
				} else {
					resp = append(resp, " BODY "...)
					resp = append(resp, p.BodyIMAP...)
				}
				resp = append(resp, ")\r\n"...)
				w.Write(resp)
				fmt.Fprintf(w, "%s OK done\r\n", tag)
			default:
				fmt.Fprintf(w, "%s BAD unexpected\r\n", tag)
			}
			w.Flush()
		}
	}()
	return ln.Addr().String()
}

// clientFetch parses p's renderings with go-imap's client.
func clientFetch(t *testing.T, p *Parsed, extended bool) *imapclient.FetchMessageBuffer {
	t.Helper()
	addr := fetchServer(t, p)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Envelope:      true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: extended},
	}).Collect()
	if err != nil {
		t.Fatalf("go-imap client rejected our FETCH data: %v\nENVELOPE %q\nBODYSTRUCTURE %q", err, p.EnvelopeIMAP, p.BodyStructureIMAP)
	}
	if len(msgs) != 1 || msgs[0].Envelope == nil || msgs[0].BodyStructure == nil {
		t.Fatalf("client got %d messages", len(msgs))
	}
	return msgs[0]
}

func TestGoIMAPClientParsesRenderings(t *testing.T) {
	m := clientFetch(t, mustParse(t, crlf(mixedMsg)), true)
	env := m.Envelope
	if env.Subject != "report" || len(env.From) != 1 || env.From[0].Name != "Joe Q. Public" || env.From[0].Addr() != "john.q.public@example.com" ||
		len(env.To) != 2 || env.MessageID != "1234@local.example" {
		t.Errorf("envelope %+v", env)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.MediaType() != "multipart/mixed" || len(mp.Children) != 2 || mp.Extended == nil || mp.Extended.Params["boundary"] != "outer" {
		t.Fatalf("bodystructure %#v", m.BodyStructure)
	}
	pdf := mp.Children[1].(*imap.BodyStructureSinglePart)
	if pdf.MediaType() != "application/pdf" || pdf.Size != 4 || pdf.ID != "<pdf@x>" || pdf.Extended == nil ||
		pdf.Extended.Disposition.Value != "ATTACHMENT" || pdf.Extended.Disposition.Params["filename"] != "r.pdf" ||
		strings.Join(pdf.Extended.Language, ",") != "en,de" || pdf.Extended.Location != "http://x.test/r.pdf" {
		t.Errorf("pdf part %+v ext %+v", pdf, pdf.Extended)
	}
	alt := mp.Children[0].(*imap.BodyStructureMultiPart)
	plain := alt.Children[0].(*imap.BodyStructureSinglePart)
	if plain.Text == nil || plain.Text.NumLines != 2 || plain.Params["charset"] != "utf-8" {
		t.Errorf("plain part %+v", plain)
	}

	m = clientFetch(t, mustParse(t, crlf(rfc822Msg)), false)
	mp = m.BodyStructure.(*imap.BodyStructureMultiPart)
	msg := mp.Children[1].(*imap.BodyStructureSinglePart)
	if msg.MessageRFC822 == nil || msg.MessageRFC822.Envelope.Subject != "inner subject" || msg.MessageRFC822.NumLines != 14 ||
		msg.MessageRFC822.BodyStructure.MediaType() != "multipart/alternative" {
		t.Errorf("message/rfc822 part %+v", msg)
	}

	// Groups, literals and odd addresses survive a real client.
	raw := "From: J\xc3\xb6rg <j@x.test>\r\nTo: A Group:Ed <c@a.test>,joe@where.test;, bare\r\nSubject: " +
		strings.Repeat("long ", 300) + "\"q\" \\\r\n\r\nx"
	m = clientFetch(t, mustParse(t, raw), true)
	env = m.Envelope
	if env.From[0].Name != "Jörg" || len(env.To) != 5 || !env.To[0].IsGroupStart() || !env.To[3].IsGroupEnd() ||
		env.To[4].Mailbox != "bare" || env.To[4].IsGroupStart() || !strings.HasSuffix(env.Subject, "\"q\" \\") {
		t.Errorf("envelope %+v", env)
	}
}

func TestGoIMAPClientParsesSeeds(t *testing.T) {
	for i, s := range fuzzSeeds() {
		p := mustParse(t, s)
		for _, ext := range []bool{false, true} {
			m := clientFetch(t, p, ext)
			if m.BodyStructure.MediaType() != p.Root.Type+"/"+p.Root.Subtype {
				t.Errorf("seed %d: client sees %s, we have %s/%s", i, m.BodyStructure.MediaType(), p.Root.Type, p.Root.Subtype)
			}
		}
	}
}
