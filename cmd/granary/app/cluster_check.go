package app

import (
	"context"
	"sort"
	"strings"
	"time"

	consul "github.com/hashicorp/consul/api"
)

// clusterService is the Consul service a cluster's members register as:
// granary-<cluster> (package membership's naming).
const clusterService = "granary-"

// clusterCheckTimeout bounds the one question checkClusterName asks
// Consul: a slow or unreachable Consul is the client's to report, with
// its retries.
const clusterCheckTimeout = 3 * time.Second

// checkClusterName fails fast, as a usage error, when Consul has no
// registration at all, healthy or not, of the cluster --cluster names: a
// mistyped name cost 15 s of retries before "no healthy members". The
// message names the clusters Consul does know. A Consul that does not
// answer is not reported here (the client's retries report it).
func checkClusterName(ctx context.Context, cfg *consul.Config, cluster string) error {
	cc, err := consul.NewClient(cfg)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, clusterCheckTimeout)
	defer cancel()
	q := (&consul.QueryOptions{}).WithContext(ctx)
	entries, _, err := cc.Health().Service(clusterService+cluster, "", false, q)
	if err != nil || len(entries) > 0 {
		return nil
	}
	known := "none"
	if services, _, err := cc.Catalog().Services(q); err == nil {
		var names []string
		for name := range services {
			if rest, ok := strings.CutPrefix(name, clusterService); ok {
				names = append(names, rest)
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			known = strings.Join(names, ", ")
		}
	}
	return usageErr("no member of cluster %q is registered in Consul at %s (clusters there: %s); check --cluster", cluster, cfg.Address, known)
}
