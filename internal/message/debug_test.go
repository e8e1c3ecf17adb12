package message

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDebugDump(t *testing.T) {
	name := os.Getenv("MSGDUMP")
	if name == "" {
		t.Skip("set MSGDUMP")
	}
	b, _ := os.ReadFile(name)
	b = []byte(strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n"))
	p, err := Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.MarshalIndent(p.Root, "", " ")
	t.Logf("%s\nENV %s\nBODY %s\nBS %s\nHDR %+v\nPREVIEW %q", j, p.EnvelopeIMAP, p.BodyIMAP, p.BodyStructureIMAP, p.Headers, p.Preview)
}
