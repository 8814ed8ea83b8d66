package node

import (
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/membership"
)

// TestRedactAddrs: a failing check's output and a dial error name the
// member's addresses, which GET /v1/cluster (a read route) must not.
func TestRedactAddrs(t *testing.T) {
	m := membership.Member{ID: "n3", HTTPAddr: "127.1.2.3:8080", Addr: "127.1.2.3:7000"}
	in := `granary health critical: Get "http://127.1.2.3:8080/healthz": dial tcp 127.1.2.3:8080: connect: connection refused; peer 127.1.2.3:7000 gone`
	out := redactAddrs(in, m)
	if strings.Contains(out, "127.1.2.3:") || !strings.Contains(out, "<n3's HTTP address>") || !strings.Contains(out, "<n3's node-to-node address>") {
		t.Fatalf("redacted %q", out)
	}
}
