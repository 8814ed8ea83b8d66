package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/placement"
)

// activationsTimeout bounds asking the members for their activation
// counts: a member that does not answer within it shows -1.
const activationsTimeout = time.Second

// members lists the cluster for GET /v1/members: an embedded node is a
// cluster of one; a member that has not joined yet knows no cluster.
func (n *Node) members(ctx context.Context, activations bool) ([]api.Member, error) {
	if n.cfg.Embedded() {
		return []api.Member{{ID: n.id, HTTPAddr: n.HTTPAddr(), Kinds: n.hosted, Version: n.version, Healthy: true, Activations: n.host.Activations()}}, nil
	}
	m := n.mem.Load()
	if m == nil {
		return nil, api.ErrUnavailable
	}
	return membersOf(ctx, m.View(), activations, n.memberClient), nil
}

// membersOf lists the healthy members; with activations, it asks each
// for its activation count (a member that does not answer in time, or is
// not asked, shows -1).
func membersOf(ctx context.Context, view membership.View, activations bool, clientOf func(httpAddr string, retryFor time.Duration) (*client.Client, error)) []api.Member {
	out := make([]api.Member, len(view.Members))
	for i, m := range view.Members {
		out[i] = api.Member{ID: m.ID, Addr: m.Addr, HTTPAddr: m.HTTPAddr, Kinds: m.Kinds, Version: m.Version, Healthy: true, Draining: m.Draining, Activations: -1}
	}
	if !activations {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, activationsTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range view.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := clientOf(m.HTTPAddr, time.Millisecond)
			if err != nil {
				return
			}
			if h, err := c.Health(ctx); err == nil {
				out[i].Activations = h.Activations
			}
		}()
	}
	wg.Wait()
	return out
}

func toGrainMembers(v membership.View) []grains.Member {
	out := make([]grains.Member, 0, len(v.Members))
	for _, m := range v.Members {
		out = append(out, grains.Member{ID: m.ID, Addr: m.Addr, Kinds: m.Kinds})
	}
	return out
}

func toPlacement(v membership.View) []placement.Member {
	out := make([]placement.Member, 0, len(v.Members))
	for _, m := range v.Members {
		out = append(out, placement.Member{ID: m.ID, Kinds: m.Kinds})
	}
	return out
}

// errNotMember: an address that is no verified member's HTTP address in
// the current view; this member sends it nothing.
var errNotMember = errors.New("node: not the HTTP address of a member in the view")

// memberClient is a client of another member's API at httpAddr, with
// this member's credentials: its cluster certificate over mutual TLS when
// the cluster has a CA and the API a certificate (memberHTTP then sends no
// token), else its internal token (the first write token), over TLS when
// the API has a certificate; the connections are shared. httpAddr must be
// the address of a member of the current view, whose addresses come from
// member keys that only members can hold (membership.View): whatever
// else Consul lists never gets this member's credentials.
func (n *Node) memberClient(httpAddr string, retryFor time.Duration) (*client.Client, error) {
	if !n.isMemberHTTPAddr(httpAddr) {
		return nil, fmt.Errorf("%w: %s", errNotMember, httpAddr)
	}
	return client.New(client.Config{Addr: n.memberURL(httpAddr), Token: n.cfg.Tokens.Internal(), HTTPClient: n.memberHTTP, RetryFor: retryFor})
}

// isMemberHTTPAddr reports whether a member of the current view has
// httpAddr as its HTTP address.
func (n *Node) isMemberHTTPAddr(httpAddr string) bool {
	m := n.mem.Load()
	if m == nil || httpAddr == "" {
		return false
	}
	for _, mb := range m.View().Members {
		if mb.HTTPAddr == httpAddr {
			return true
		}
	}
	return false
}

// janitor picks the member that runs retention sweeps: the placement
// owner of "janitor" among all members, so exactly one sweeps.
func janitor(v membership.View) string {
	members := make([]placement.Member, 0, len(v.Members))
	for _, m := range v.Members {
		members = append(members, placement.Member{ID: m.ID, Kinds: []string{"janitor"}})
	}
	id, _ := placement.Owner(members, "janitor", "janitor")
	return id
}
