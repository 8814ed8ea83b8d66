// Package layouttest checks the repository's layout: internal/ holds test
// rigs, benchmarks and tools only, below nothing that ships.
package layouttest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/granary-rt/granary"

// TestNothingShippedImportsInternal: no non-test package outside internal/
// imports a package inside it. Runtime code lives with the runtime
// (cluster/internal/... for what only cluster uses); internal/ is for the
// rigs that import the runtime, so an arrow from the runtime into it would
// run both ways. internal/scripts/runtime-out-of-internal.sh moved the
// packages that did.
func TestNothingShippedImportsInternal(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], module+"/internal/") {
			continue
		}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, module+"/internal/") {
				t.Errorf("%s (not a test) imports %s: move runtime code out of internal/", fields[0], imp)
			}
		}
	}
}
