package sqlite

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/postern/postern/internal/message"
)

func sampleHeaders() []message.Headers {
	return []message.Headers{
		{},
		{Subject: "only"},
		{
			From: "Alice <alice@example.org>", Sender: "s@x", ReplyTo: "r@x", To: "bob@example.org, carol@example.org",
			Cc: "c@x", Bcc: "b@x", Subject: "Grüße – ünïcode", MessageID: "<m1@x>", InReplyTo: "<m0@x>",
			Date:       time.Date(2006, 1, 2, 15, 4, 5, 123, time.FixedZone("", -7*3600)),
			References: []string{"<a@x>", "<m0@x>"},
		},
		{Date: time.Unix(0, 0).UTC()},
		{Date: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)},
		{Date: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 14*3600))},
	}
}

// TestHeadersCodec checks that the compact encoding round-trips and that
// JSON rows written before it still decode.
func TestHeadersCodec(t *testing.T) {
	var zones zoneCache
	for i, h := range sampleHeaders() {
		enc := encodeHeaders(&h)
		if enc[0] != headersV1 {
			t.Fatalf("%d: version byte %#x", i, enc[0])
		}
		var got message.Headers
		if err := decodeHeaders(enc, &got, &zones); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		assertSameHeaders(t, h, got)
		old, _ := json.Marshal(&h)
		var fromJSON message.Headers
		if err := decodeHeaders(old, &fromJSON, nil); err != nil {
			t.Fatalf("%d: JSON row: %v", i, err)
		}
		assertSameHeaders(t, h, fromJSON)
	}
	var h message.Headers
	if err := decodeHeaders(nil, &h, nil); err != nil || !reflect.DeepEqual(h, message.Headers{}) {
		t.Fatalf("empty column: %v %+v", err, h)
	}
	good := encodeHeaders(&sampleHeaders()[2])
	for _, bad := range [][]byte{good[:len(good)-1], append(bytes.Clone(good), 0), {headersV1, 0xff}} {
		if err := decodeHeaders(bad, &h, nil); err == nil {
			t.Errorf("corrupt value %x decoded", bad)
		}
	}
}

func assertSameHeaders(t *testing.T, want, got message.Headers) {
	t.Helper()
	if !want.Date.Equal(got.Date) || want.Date.IsZero() != got.Date.IsZero() {
		t.Fatalf("date %v, want %v", got.Date, want.Date)
	}
	if !want.Date.IsZero() {
		_, wo := want.Date.Zone()
		_, go_ := got.Date.Zone()
		if wo != go_ {
			t.Fatalf("zone offset %d, want %d", go_, wo)
		}
	}
	want.Date, got.Date = time.Time{}, time.Time{}
	if len(want.References) == 0 && len(got.References) == 0 {
		want.References, got.References = nil, nil
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// FuzzDecodeHeaders feeds arbitrary column values to the decoder: it must
// not panic, and whatever it accepts in the compact form must survive
// another encode and decode unchanged.
func FuzzDecodeHeaders(f *testing.F) {
	for _, h := range sampleHeaders() {
		f.Add(encodeHeaders(&h))
		old, _ := json.Marshal(&h)
		f.Add(old)
	}
	f.Add([]byte{headersV1})
	f.Add([]byte{headersV1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h message.Headers
		if err := decodeHeaders(b, &h, nil); err != nil || len(b) == 0 || b[0] != headersV1 {
			return
		}
		var again message.Headers
		if err := decodeHeaders(encodeHeaders(&h), &again, nil); err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		assertSameHeaders(t, h, again)
	})
}
