package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsShowExample keeps docs/configuration.md in step with the example
// file: the reference page must hold the example verbatim.
func TestDocsShowExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), Example()) {
		t.Fatal("docs/configuration.md does not contain the output of `postern config example`; regenerate its \"The whole file\" section")
	}
}
