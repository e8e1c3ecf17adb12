package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// corpus is a Maildir of n generated messages, made once per run and
// loaded into each server (postern imports it; Dovecot gets a copy).
type corpus struct {
	dir string
	n   int
}

var (
	corpusMu    sync.Mutex
	corpusCache = map[string]*corpus{}
)

// makeCorpus writes (or reuses) a Maildir of n messages of about size
// octets; every 10th message is multipart with a small attachment, so that
// BODYSTRUCTURE has some depth.
func makeCorpus(root string, n, size int) (*corpus, error) {
	key := fmt.Sprintf("%d-%d", n, size)
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if c := corpusCache[key]; c != nil {
		return c, nil
	}
	dir := filepath.Join(root, "corpus-"+key)
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		var msg []byte
		if i%10 == 0 {
			msg = makeMultipart(uint64(i)+1<<40, size)
		} else {
			msg = makeMessage(uint64(i)+1<<40, size)
		}
		flags := ""
		if i%3 == 0 {
			flags = "S"
		}
		name := filepath.Join(dir, "cur", fmt.Sprintf("%d.M%dP1.bench:2,%s", base.Unix()+int64(i), i, flags))
		if err := os.WriteFile(name, msg, 0o644); err != nil {
			return nil, err
		}
		t := base.Add(time.Duration(i) * time.Minute)
		_ = os.Chtimes(name, t, t)
	}
	c := &corpus{dir: dir, n: n}
	corpusCache[key] = c
	return c, nil
}

func makeMultipart(seed uint64, size int) []byte {
	text := makeMessage(seed, size)
	// Reuse the generated header and body; wrap the body as part one.
	hdrEnd := indexBlank(text)
	hdr, body := text[:hdrEnd], text[hdrEnd+4:]
	hdr = replaceHeader(hdr, "Content-Type", "multipart/mixed; boundary=\"=_bench_boundary\"")
	out := append([]byte{}, hdr...)
	out = append(out, "\r\n\r\nThis is a multipart message.\r\n--=_bench_boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"...)
	out = append(out, body...)
	out = append(out, "--=_bench_boundary\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURl\r\nY29kZT4+CnN0cmVhbQp4nDPQM1Qo5ypUMFAw0DMwslAwtTTVMzI3UbAwMdSzUChKTS4pLUoFAJ2s\r\n--=_bench_boundary--\r\n"...)
	return out
}

func indexBlank(b []byte) int {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return i
		}
	}
	return len(b)
}

func replaceHeader(hdr []byte, name, value string) []byte {
	lines := splitCRLF(hdr)
	var out []byte
	for _, l := range lines {
		if len(l) > len(name) && string(l[:len(name)+1]) == name+":" {
			l = []byte(name + ": " + value)
		}
		out = append(out, l...)
		out = append(out, '\r', '\n')
	}
	return out[:len(out)-2]
}

func splitCRLF(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i+1 < len(b) && !(b[i] == '\r' && b[i+1] == '\n') {
			i++
		}
		if i+1 >= len(b) {
			out = append(out, b)
			break
		}
		out = append(out, b[:i])
		b = b[i+2:]
	}
	return out
}

// loadCorpus fills user's INBOX on every target with the corpus.
func loadCorpus(ctx context.Context, t *target, user string, c *corpus) error {
	start := time.Now()
	if err := t.load(ctx, user, c.dir); err != nil {
		return err
	}
	logf("  loaded %d messages into %s/%s in %v", c.n, t.name, user, time.Since(start).Round(time.Millisecond))
	return nil
}
