package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// maxClientDeps bounds the packages outside the standard library that a
// program importing the client builds: 48 when the bound was set
// (protobuf's runtime, OpenTelemetry's trace and propagation API, and
// Granary's light packages), 217 before, when the client pulled in the actor
// runtime, Consul's library and OpenTelemetry's SDK and exporter.
const maxClientDeps = 60

// heavyDeps are the module paths the client must never reach: each came in
// once through one convenience and brought dozens of packages.
var heavyDeps = []string{
	"github.com/asynkron/protoactor-go",
	"github.com/hashicorp/consul",
	"go.opentelemetry.io/otel/sdk",
	"go.opentelemetry.io/otel/exporters",
	"google.golang.org/grpc",
}

// TestClientDepsStayLight: a program that only submits tasks does not pay
// for the runtime.
func TestClientDepsStayLight(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		deps = append(deps, p)
		for _, h := range heavyDeps {
			if strings.HasPrefix(p, h) {
				t.Errorf("the client imports %s (from %s)", p, h)
			}
		}
	}
	if len(deps) > maxClientDeps {
		t.Errorf("the client builds %d packages outside the standard library, the bound is %d:\n%s", len(deps), maxClientDeps, strings.Join(deps, "\n"))
	}
}
