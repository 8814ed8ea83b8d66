package app

import (
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	consul "github.com/hashicorp/consul/api"
)

// TestMistypedClusterFailsFast: --cluster naming a cluster of which Consul
// has no registration is a usage error at once, naming the clusters it
// does know; it cost 15 s of retries before "no healthy members".
func TestMistypedClusterFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Consul agent")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	// A member of cluster "shop" that is down: registered, its check
	// critical. Its name is known although nothing in it is healthy.
	reg := &consul.AgentServiceRegistration{ID: "shop-a", Name: clusterService + "shop", Port: 1,
		Check: &consul.AgentServiceCheck{TTL: "10s", Status: consul.HealthCritical}}
	if err := agent.Client().Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := cli(t, "", "members", "--cluster", "shp", "--consul", agent.HTTPAddr(), "--timeout", "30s")
	if r.code != exitUsage || !strings.Contains(r.stderr, `no member of cluster "shp"`) || !strings.Contains(r.stderr, "clusters there: shop") {
		t.Errorf("members --cluster shp: exit %d, %q; want exit 2 naming shop", r.code, r.stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("members --cluster shp took %s; want a prompt answer", took)
	}
	// The cluster that exists (its one member down) is not refused as a
	// typo: the client tries it, and says no node answers.
	r = cli(t, "", "members", "--cluster", "shop", "--consul", agent.HTTPAddr(), "--timeout", "1s")
	if r.code == exitOK || strings.Contains(r.stderr, "no member of cluster") {
		t.Errorf("members --cluster shop: exit %d, %q; want the client's own failure", r.code, r.stderr)
	}
}
