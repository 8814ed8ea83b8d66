package membership

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// Discover lists the healthy members of cluster without joining it, for
// clients (the CLI's --consul/--cluster, the Go client's Discover hook).
func Discover(ctx context.Context, c *api.Client, cluster string) ([]Member, error) {
	entries, _, err := c.Health().Service(servicePrefix+cluster, "", true, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("membership: listing cluster %s in Consul: %w", cluster, err)
	}
	members, _ := membersFromEntries(entries)
	return members, nil
}

// DiscoverHTTP returns a func listing the HTTP addresses of cluster's
// healthy members, the shape client.Config.Discover takes.
func DiscoverHTTP(c *api.Client, cluster string) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		members, err := Discover(ctx, c, cluster)
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(members))
		for _, m := range members {
			if m.HTTPAddr != "" {
				out = append(out, m.HTTPAddr)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("membership: cluster %s has no healthy members in Consul", cluster)
		}
		return out, nil
	}
}
