package dovecotdiff

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// rawClient is a line-level IMAP client: it sends command strings as
// written and collects every response line (literals inlined) up to the
// tagged completion. One goroutine uses a client at a time.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dialIMAP(addr string) (*rawClient, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, "", err
	}
	c := &rawClient{conn: conn, r: bufio.NewReader(conn)}
	greeting, err := c.readResponse()
	if err != nil {
		conn.Close()
		return nil, "", err
	}
	return c, greeting, nil
}

func (c *rawClient) close() { c.conn.Close() }

// readResponse reads one response line with any literals it carries; the
// literal bytes are kept in the returned text.
func (c *rawClient) readResponse() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return b.String() + line, err
		}
		line = strings.TrimRight(line, "\r\n")
		b.WriteString(line)
		n, ok := literalSize(line)
		if !ok {
			return b.String(), nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return b.String(), err
		}
		b.WriteString("\r\n")
		b.Write(buf)
	}
}

// literalSize reports the size of a literal announced at the end of line:
// "{n}" or "~{n}" (BINARY, RFC 3516).
func literalSize(line string) (int, bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line[i+1:len(line)-1], "+"))
	if err != nil {
		return 0, false
	}
	return n, true
}

// do sends one command without its tag and returns all response lines,
// the tag replaced by "TAG". A literal "{n}\r\n" followed by n bytes is
// sent after the server's continuation request; "IDLE\r\nDONE" sends DONE
// after IDLE's continuation.
func (c *rawClient) do(cmd string) ([]string, error) {
	c.n++
	tag := fmt.Sprintf("d%03d", c.n)
	var chunks []string
	rest := tag + " " + cmd
	if strings.HasSuffix(cmd, "\r\nDONE") {
		chunks = []string{tag + " " + strings.TrimSuffix(cmd, "\r\nDONE") + "\r\n", "DONE\r\n"}
	} else {
		for {
			i := strings.Index(rest, "}\r\n")
			j := strings.LastIndexByte(rest[:max(i, 0)], '{')
			if i < 0 || j < 0 {
				chunks = append(chunks, rest+"\r\n")
				break
			}
			n, err := strconv.Atoi(rest[j+1 : i])
			if err != nil || i+3+n > len(rest) {
				return nil, fmt.Errorf("bad literal in %q", cmd)
			}
			chunks = append(chunks, rest[:i+3])
			rest = rest[i+3:]
			// One literal per command: its bytes and whatever follows
			// form the last chunk.
			chunks = append(chunks, rest+"\r\n")
			break
		}
	}
	var out []string
	for i, ch := range chunks {
		_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c.conn, ch); err != nil {
			return out, err
		}
		if i == len(chunks)-1 {
			break
		}
		// Wait for the continuation request before sending the next chunk.
		for {
			l, err := c.readResponse()
			if err != nil {
				return out, err
			}
			if strings.HasPrefix(l, "+") {
				break
			}
			if strings.HasPrefix(l, tag+" ") {
				return append(out, "TAG"+l[len(tag):]), nil
			}
			out = append(out, l)
		}
	}
	for {
		l, err := c.readResponse()
		if err != nil {
			return out, err
		}
		if strings.HasPrefix(l, tag+" ") {
			return append(out, "TAG"+l[len(tag):]), nil
		}
		out = append(out, l)
	}
}

// deliverLMTP delivers each message to rcpt over one LMTP session.
func deliverLMTP(addr, rcpt string, msgs []string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	reply := func() (string, error) {
		var last string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return last, err
			}
			last = strings.TrimRight(l, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last, nil
			}
		}
	}
	step := func(send, want string) error {
		if send != "" {
			if _, err := io.WriteString(conn, send); err != nil {
				return err
			}
		}
		l, err := reply()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, want) {
			return fmt.Errorf("LMTP %q: got %q", strings.TrimSpace(send), l)
		}
		return nil
	}
	if err := step("", "220"); err != nil {
		return err
	}
	if err := step("LHLO diff.test\r\n", "250"); err != nil {
		return err
	}
	for _, m := range msgs {
		if err := step("MAIL FROM:<sender@example.org>\r\n", "250"); err != nil {
			return err
		}
		if err := step("RCPT TO:<"+rcpt+">\r\n", "250"); err != nil {
			return err
		}
		if err := step("DATA\r\n", "354"); err != nil {
			return err
		}
		var body strings.Builder
		for _, l := range strings.SplitAfter(m, "\r\n") {
			if strings.HasPrefix(l, ".") {
				body.WriteString(".")
			}
			body.WriteString(l)
		}
		if !strings.HasSuffix(m, "\r\n") {
			body.WriteString("\r\n")
		}
		body.WriteString(".\r\n")
		if err := step(body.String(), "250"); err != nil {
			return err
		}
	}
	return step("QUIT\r\n", "221")
}
