package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// imapConn is a minimal IMAP client for timing: it sends a command and
// reads to the tagged response, skipping literals, counting bytes. The
// harness does not use a full client library so that the client's own
// parsing cost is the same, and small, for both servers.
type imapConn struct {
	c     net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	tag   int
	bytes int64
}

func dialIMAP(ctx context.Context, addr, user, pass string) (*imapConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	ic := &imapConn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
	if _, err := ic.r.ReadSlice('\n'); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := ic.cmd(fmt.Sprintf("LOGIN %s %s", user, pass)); err != nil {
		c.Close()
		return nil, err
	}
	return ic, nil
}

func (ic *imapConn) close() {
	ic.w.WriteString("Z LOGOUT\r\n")
	ic.w.Flush()
	ic.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.Copy(io.Discard, ic.r)
	ic.c.Close()
}

// cmd sends one command and reads until its tagged reply; untagged lines
// are returned (without literal contents). A NO or BAD is an error.
func (ic *imapConn) cmd(command string) ([]string, error) {
	ic.tag++
	tag := "T" + strconv.Itoa(ic.tag)
	if _, err := ic.w.WriteString(tag + " " + command + "\r\n"); err != nil {
		return nil, err
	}
	if err := ic.w.Flush(); err != nil {
		return nil, err
	}
	return ic.readUntil(tag, command)
}

func (ic *imapConn) readUntil(tag, command string) ([]string, error) {
	var untagged []string
	for {
		line, err := ic.readLine()
		if err != nil {
			return untagged, fmt.Errorf("%s: %w", short(command), err)
		}
		if bytes.HasPrefix(line, []byte(tag+" ")) {
			rest := line[len(tag)+1:]
			if !bytes.HasPrefix(rest, []byte("OK")) {
				return untagged, fmt.Errorf("%s: %s", short(command), rest)
			}
			return untagged, nil
		}
		if len(untagged) < 100000 {
			untagged = append(untagged, string(line))
		}
	}
}

// readLine reads one logical response line, skipping literal bytes.
func (ic *imapConn) readLine() ([]byte, error) {
	var out []byte
	for {
		l, err := ic.r.ReadSlice('\n')
		ic.bytes += int64(len(l))
		if err == bufio.ErrBufferFull {
			out = append(out, l...)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
		t := bytes.TrimRight(out, "\r\n")
		if n, ok := literalLen(t); ok {
			if _, err := io.CopyN(io.Discard, ic.r, n); err != nil {
				return nil, err
			}
			ic.bytes += n
			out = append(t, "<lit>"...)
			continue
		}
		return t, nil
	}
}

func literalLen(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	num := bytes.TrimSuffix(line[i+1:len(line)-1], []byte("+"))
	n, err := strconv.ParseInt(string(num), 10, 64)
	return n, err == nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
