package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const modulePath = "github.com/postern/postern"

// goPackage is what `go list -json` says of one package.
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs go list over the module's internal packages (not their
// tests).
func listPackages(t *testing.T) map[string]goPackage {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "list", "-e", "-json=ImportPath,Imports,Deps", "./internal/...", "./cmd/...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, modulePath+"/")] = p
	}
	return pkgs
}

// internalOf returns the module-relative paths among import paths.
func internalOf(paths []string) []string {
	var out []string
	for _, p := range paths {
		if rel, ok := strings.CutPrefix(p, modulePath+"/"); ok {
			out = append(out, rel)
		}
	}
	return out
}

func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// TestLayout keeps the arrows of DESIGN.md §2 pointing down.
func TestLayout(t *testing.T) {
	pkgs := listPackages(t)
	protocols := []string{"internal/imapserver", "internal/pop3server", "internal/delivery"}

	// Direct internal imports allowed per package (the table of §2).
	allowed := map[string][]string{
		"cmd/postern":           {"internal/config", "internal/server", "internal/store", "internal/store/sqlite", "internal/auth", "internal/transfer", "internal/delivery"},
		"internal/config":       {},
		"internal/imapwire":     {},
		"internal/textline":     {},
		"internal/blob":         {},
		"internal/message":      {},
		"internal/auth":         {},
		"internal/store":        {"internal/message", "internal/blob"},
		"internal/store/sqlite": {"internal/store", "internal/message", "internal/blob"},
		"internal/netserve":     {},
		"internal/imapserver":   {"internal/imapwire", "internal/store", "internal/auth", "internal/message", "internal/netserve"},
		"internal/pop3server":   {"internal/store", "internal/auth", "internal/textline", "internal/message", "internal/netserve"},
		"internal/delivery":     {"internal/store", "internal/message", "internal/auth", "internal/textline"},
		"internal/transfer":     {"internal/store", "internal/message"},
	}
	checked := 0
	for name, p := range pkgs {
		for _, dep := range internalOf(p.Deps) {
			if dep == "cmd/postern" {
				t.Errorf("%s depends on the command", name)
			}
			if name == "internal/server" || name == "cmd/postern" {
				continue
			}
			if dep == "internal/server" {
				t.Errorf("%s depends on internal/server (only the command may)", name)
			}
		}
		if ok, known := allowed[name]; known {
			checked++
			for _, imp := range internalOf(p.Imports) {
				if !slices.Contains(ok, imp) {
					t.Errorf("%s imports %s, which DESIGN.md §2 does not allow", name, imp)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d known packages found; is go list working? %v", checked, pkgs)
	}

	// Protocol packages never depend on each other.
	for _, a := range protocols {
		for _, dep := range internalOf(pkgs[a].Deps) {
			if dep != a && slices.Contains(protocols, dep) {
				t.Errorf("protocol package %s depends on %s", a, dep)
			}
		}
	}
	// The store never depends on a protocol package (nor on auth).
	for name, p := range pkgs {
		if name != "internal/store" && !strings.HasPrefix(name, "internal/store/") {
			continue
		}
		for _, dep := range internalOf(p.Deps) {
			if slices.Contains(protocols, dep) || dep == "internal/auth" || dep == "internal/imapwire" || dep == "internal/textline" {
				t.Errorf("store package %s depends on %s", name, dep)
			}
		}
	}
	// Wire packages use the standard library only.
	for _, name := range []string{"internal/imapwire", "internal/textline", "internal/netserve"} {
		p, ok := pkgs[name]
		if !ok {
			t.Errorf("%s not found", name)
			continue
		}
		for _, dep := range p.Deps {
			if !isStandard(dep) {
				t.Errorf("wire package %s depends on %s (standard library only)", name, dep)
			}
		}
	}
}
