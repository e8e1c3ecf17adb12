package authe2e

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// ioTimeout bounds every read and write of the test clients.
const ioTimeout = 30 * time.Second

// lineConn is a minimal IMAP or POP3 client: it writes lines and reads
// CRLF lines, with a deadline on each.
type lineConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	tag  int
}

// dial connects to addr from the loopback address local ("" lets the
// kernel choose 127.0.0.1); with tlsCfg it speaks implicit TLS.
func dial(t *testing.T, addr, local string, tlsCfg *tls.Config) (*lineConn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: ioTimeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		tc := tls.Client(c, tlsCfg)
		tc.SetDeadline(time.Now().Add(ioTimeout))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	lc := &lineConn{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { lc.conn.Close() })
	return lc, nil
}

// mustDial is dial that fails the test on error and returns the greeting.
func mustDial(t *testing.T, addr, local string, tlsCfg *tls.Config) (*lineConn, string) {
	t.Helper()
	c, err := dial(t, addr, local, tlsCfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c, c.readLine()
}

// insecureTLS trusts any server certificate (the self-signed one).
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "mail.postern.test"}
}

// readLineErr reads one line without its CRLF.
func (c *lineConn) readLineErr() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := c.r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func (c *lineConn) readLine() string {
	c.t.Helper()
	line, err := c.readLineErr()
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, line)
	}
	return line
}

// write sends raw bytes in one write.
func (c *lineConn) write(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// nextTag returns a fresh IMAP tag.
func (c *lineConn) nextTag() string {
	c.tag++
	return fmt.Sprintf("t%d", c.tag)
}

// imap sends one IMAP command and returns the untagged lines and the
// tagged completion.
func (c *lineConn) imap(command string) (untagged []string, tagged string) {
	c.t.Helper()
	tag := c.nextTag()
	c.write(tag + " " + command + "\r\n")
	return c.readUntilTag(tag)
}

func (c *lineConn) readUntilTag(tag string) (untagged []string, tagged string) {
	c.t.Helper()
	for {
		line := c.readLine()
		if strings.HasPrefix(line, tag+" ") {
			return untagged, strings.TrimPrefix(line, tag+" ")
		}
		untagged = append(untagged, line)
	}
}

// capabilities returns the IMAP capability list (CAPABILITY command).
func (c *lineConn) capabilities() map[string]bool {
	c.t.Helper()
	untagged, tagged := c.imap("CAPABILITY")
	if !strings.HasPrefix(tagged, "OK") {
		c.t.Fatalf("CAPABILITY: %s", tagged)
	}
	caps := map[string]bool{}
	for _, l := range untagged {
		if rest, ok := strings.CutPrefix(l, "* CAPABILITY "); ok {
			for _, cap := range strings.Fields(rest) {
				caps[strings.ToUpper(cap)] = true
			}
		}
	}
	return caps
}

// starttls runs IMAP STARTTLS (or POP3 STLS with pop set) and the client
// handshake with cfg.
func (c *lineConn) starttls(cfg *tls.Config, pop bool) {
	c.t.Helper()
	if pop {
		c.write("STLS\r\n")
		if line := c.readLine(); !strings.HasPrefix(line, "+OK") {
			c.t.Fatalf("STLS: %s", line)
		}
	} else {
		if _, tagged := c.imap("STARTTLS"); !strings.HasPrefix(tagged, "OK") {
			c.t.Fatalf("STARTTLS: %s", tagged)
		}
	}
	if c.r.Buffered() != 0 {
		c.t.Fatalf("server sent %d bytes in plaintext after agreeing to TLS", c.r.Buffered())
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(ioTimeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake after STARTTLS: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// tlsState returns the connection's TLS state; the connection must be TLS.
func (c *lineConn) tlsState() *tls.ConnectionState {
	c.t.Helper()
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		c.t.Fatal("not a TLS connection")
	}
	cs := tc.ConnectionState()
	return &cs
}

// saslStep answers one server challenge; an error cancels the exchange.
type saslStep func(challenge []byte) ([]byte, error)

// authenticate runs IMAP AUTHENTICATE (RFC 9051 §6.2.2): with ir non-nil
// the initial response goes on the command line (SASL-IR, RFC 4959).
// It returns the tagged completion.
func (c *lineConn) authenticate(mech string, ir []byte, step saslStep) string {
	c.t.Helper()
	tag := c.nextTag()
	cmd := tag + " AUTHENTICATE " + mech
	if ir != nil {
		cmd += " " + encodeIR(ir)
	}
	c.write(cmd + "\r\n")
	for {
		line := c.readLine()
		switch {
		case strings.HasPrefix(line, tag+" "):
			return strings.TrimPrefix(line, tag+" ")
		case line == "+" || strings.HasPrefix(line, "+ "):
			c.write(c.answer(strings.TrimSpace(strings.TrimPrefix(line, "+")), step) + "\r\n")
		}
	}
}

// pop3Auth runs POP3 AUTH (RFC 5034) and returns the final +OK or -ERR
// line.
func (c *lineConn) pop3Auth(mech string, ir []byte, step saslStep) string {
	c.t.Helper()
	cmd := "AUTH " + mech
	if ir != nil {
		cmd += " " + encodeIR(ir)
	}
	c.write(cmd + "\r\n")
	for {
		line := c.readLine()
		if !strings.HasPrefix(line, "+ ") && line != "+" {
			return line
		}
		c.write(c.answer(strings.TrimSpace(strings.TrimPrefix(line, "+")), step) + "\r\n")
	}
}

// answer decodes a challenge and encodes the step's response ("*" when
// the step gives up).
func (c *lineConn) answer(b64 string, step saslStep) string {
	c.t.Helper()
	ch, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		c.t.Fatalf("challenge %q is not base64: %v", b64, err)
	}
	resp, err := step(ch)
	if err != nil {
		c.t.Logf("client cancels the exchange: %v", err)
		return "*"
	}
	return base64.StdEncoding.EncodeToString(resp)
}

// encodeIR encodes an initial response; an empty one is "=".
func encodeIR(ir []byte) string {
	if len(ir) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(ir)
}

// pop3 sends one POP3 command and returns the first reply line.
func (c *lineConn) pop3(command string) string {
	c.t.Helper()
	c.write(command + "\r\n")
	return c.readLine()
}

// pop3Multi sends a POP3 command with a multi-line answer and returns the
// status line and the body lines.
func (c *lineConn) pop3Multi(command string) (status string, lines []string) {
	c.t.Helper()
	status = c.pop3(command)
	if !strings.HasPrefix(status, "+OK") {
		return status, nil
	}
	for {
		l := c.readLine()
		if l == "." {
			return status, lines
		}
		lines = append(lines, l)
	}
}

// noSteps is a step for exchanges that expect no challenge.
func noSteps(ch []byte) ([]byte, error) {
	return nil, fmt.Errorf("unexpected challenge %q", ch)
}

// plainIR is a SASL PLAIN message (RFC 4616).
func plainIR(user, pass string) []byte { return []byte("\x00" + user + "\x00" + pass) }

// pop3Quit ends a POP3 session and waits until the server has closed the
// connection, so that the maildrop lock is released (the server unlocks
// before it closes).
func (c *lineConn) pop3Quit() {
	c.t.Helper()
	if got := c.pop3("QUIT"); !strings.HasPrefix(got, "+OK") {
		c.t.Fatalf("QUIT: %s", got)
	}
	for {
		if _, err := c.readLineErr(); err != nil {
			return
		}
	}
}
