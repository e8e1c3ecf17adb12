package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"net"
	"strings"
	"testing"
	"time"
)

func TestTmpProbe(t *testing.T) {
	st, _ := newTestStore(t)
	ctx := context.Background()
	st.CreateAccount(ctx, "ann")
	srv := New(Options{Store: st, Hostname: "mx.test", Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.ServeLMTP(l)
	conn, _ := net.Dial("tcp", l.Addr().String())
	r := newReplyReader(conn)
	r.next()
	fmt.Fprintf(conn, "LHLO bench\r\n")
	r.next()
	var pre, data time.Duration
	for i := 0; i < 50; i++ {
		msg := dotStuff(testMessage(fmt.Sprintf("b%d", i), strings.Repeat(strings.Repeat("x", 78)+"\r\n", 50)))
		t0 := time.Now()
		fmt.Fprintf(conn, "MAIL FROM:<b@example.net>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n")
		for k := 0; k < 3; k++ { if c, line := r.next(); c/100 != 2 && c != 354 { t.Fatal(line) } }
		t1 := time.Now()
		conn.Write([]byte(msg))
		if c, line := r.next(); c != 250 { t.Fatal(line) }
		pre += t1.Sub(t0)
		data += time.Since(t1)
	}
	t.Logf("pre %v data %v per msg", pre/50, data/50)
}
