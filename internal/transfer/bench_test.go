package transfer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchMbox builds an mbox of n messages of about 4 KiB each.
func benchMbox(b *testing.B, n int) []byte {
	var buf bytes.Buffer
	mw := newMboxWriter(&buf)
	body := "Subject: bench\r\nFrom: a@example.org\r\n\r\n" + strings.Repeat("From a line that needs quoting and some text.\r\n", 80)
	for i := 0; i < n; i++ {
		if _, err := mw.writeMessage("a@example.org", time.Unix(1e9, 0), mboxMetaLines([]string{`\Seen`, "work"}, "\n", 1, ""), strings.NewReader(body), false); err != nil {
			b.Fatal(err)
		}
	}
	mw.Flush()
	return buf.Bytes()
}

func BenchmarkMboxSplit(b *testing.B) {
	data := benchMbox(b, 1000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sp := newMboxSplitter(bytes.NewReader(data), MboxRD)
		for {
			msg, err := sp.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			body, _, err := readMboxMeta(msg.Body, false, msg.contentLengthUsed)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, body)
		}
	}
}

func BenchmarkMboxWrite(b *testing.B) {
	body := "Subject: bench\r\nFrom: a@example.org\r\n\r\n" + strings.Repeat("From a line that needs quoting and some text.\r\n", 80)
	b.SetBytes(int64(len(body)))
	mw := newMboxWriter(io.Discard)
	meta := mboxMetaLines([]string{`\Seen`, "work"}, "\n", 1, "")
	for i := 0; i < b.N; i++ {
		if _, err := mw.writeMessage("a@example.org", time.Unix(1e9, 0), meta, strings.NewReader(body), false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportMbox imports an mbox of 200 messages into a fresh
// account of the embedded store per iteration (durable staging included).
func BenchmarkImportMbox(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	if err := os.WriteFile(path, benchMbox(b, 200), 0o600); err != nil {
		b.Fatal(err)
	}
	st := openStore(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench%d", i)
		mustCreateAccount(b, st, name)
		rep, err := Import(ctx, st, ImportOptions{Account: name, Format: FormatMbox, Path: path})
		if err != nil || rep.Messages != 200 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
}
