package membership

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// Discover lists the healthy members of cluster without joining it, for
// clients (the CLI's --consul/--cluster, the Go client's Discover hook).
// A member is what the views hold (see rosterOf): a registration with
// granary's checks, all passing, whose node holds its member key under a
// live session; its addresses come from that key. A registration that is
// not one (registered by anyone with service:write, with no checks) is
// left out, so a client never sends its token there. The client's Consul
// token needs read on the service, the nodes and the key prefix
// granary/<cluster>/members/ (ClientPolicy).
func Discover(ctx context.Context, c *api.Client, cluster string) ([]Member, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	entries, _, err := c.Health().Service(servicePrefix+cluster, "", true, q)
	if err != nil {
		return nil, fmt.Errorf("membership: listing cluster %s in Consul: %w", cluster, err)
	}
	pairs, _, err := c.KV().List(memberKeyPrefix(cluster), q)
	if err != nil {
		return nil, fmt.Errorf("membership: listing cluster %s's member keys in Consul: %w", cluster, err)
	}
	members, _ := rosterOf(cluster, entries, pairs)
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
