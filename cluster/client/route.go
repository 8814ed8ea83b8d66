package client

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/placement"
)

// router holds the member list a routing client places submits with.
type router struct {
	mu         sync.Mutex
	members    []placement.Member
	addrs      map[string]*url.URL // member id -> HTTP address
	fetched    time.Time
	refreshing bool
}

// owner is the HTTP address of the member that owns a new task of kind
// with id, or nil when the client does not route or does not know yet.
// A list older than RouteRefresh is read again in the background: no
// submit waits for it.
func (c *Client) owner(kind, id string) *url.URL {
	if !c.cfg.Route {
		return nil
	}
	r := &c.route
	r.mu.Lock()
	if time.Since(r.fetched) > c.cfg.RouteRefresh && !r.refreshing {
		r.refreshing = true
		go c.refreshRoute()
	}
	members, addrs := r.members, r.addrs
	r.mu.Unlock()
	if id == "" {
		return nil
	}
	o, ok := placement.TaskOwner(members, kind, id)
	if !ok {
		return nil
	}
	return addrs[o]
}

// refreshRoute reads the member list. A node that cannot tell (not in a
// cluster) leaves the client sending to its configured nodes.
func (c *Client) refreshRoute() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RouteRefresh)
	defer cancel()
	var list api.MemberList
	err := c.do(ctx, http.MethodGet, "/v1/members", url.Values{"activations": {"false"}}, nil, &list)
	var members []placement.Member
	addrs := map[string]*url.URL{}
	if err == nil {
		for _, m := range list.Members {
			u, perr := parseAddr(m.HTTPAddr, c.secure)
			if !m.Healthy || m.Draining || m.HTTPAddr == "" || perr != nil {
				continue
			}
			members = append(members, placement.Member{ID: m.ID, Kinds: m.Kinds})
			addrs[m.ID] = u
		}
	}
	r := &c.route
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members, r.addrs, r.fetched, r.refreshing = members, addrs, time.Now(), false
}

// stale makes the next submit read the member list again: its owner could
// not be reached.
func (r *router) stale() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetched = time.Time{}
}
