package client

import (
	"context"
	"fmt"
	"net/url"

	"github.com/granary-rt/granary/cluster/api"
)

// Addr is the node address the client talks to now.
func (c *Client) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nodes) == 0 {
		return ""
	}
	return c.nodes[c.next%len(c.nodes)].String()
}

// node returns the node to try next.
func (c *Client) node(ctx context.Context) (*url.URL, error) {
	c.mu.Lock()
	empty := len(c.nodes) == 0
	c.mu.Unlock()
	if empty {
		if err := c.discover(ctx); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nodes) == 0 {
		return nil, fmt.Errorf("%w: no healthy granary node found", api.ErrUnavailable)
	}
	return c.nodes[c.next%len(c.nodes)], nil
}

// failed moves on from a node that did not answer; after a full round it
// asks Discover again.
func (c *Client) failed(ctx context.Context, u *url.URL) {
	c.mu.Lock()
	if len(c.nodes) > 0 && c.nodes[c.next%len(c.nodes)] == u {
		c.next++
	}
	round := len(c.nodes) == 0 || c.next%len(c.nodes) == 0
	c.mu.Unlock()
	if round && c.cfg.Discover != nil {
		_ = c.discover(ctx)
	}
}

func (c *Client) discover(ctx context.Context) error {
	if c.cfg.Discover == nil {
		return nil
	}
	addrs, err := c.cfg.Discover(ctx)
	if err != nil {
		return fmt.Errorf("%w: discovering nodes: %w", api.ErrUnavailable, err)
	}
	nodes := make([]*url.URL, 0, len(addrs))
	for _, a := range addrs {
		if u, err := parseAddr(a, c.secure); err == nil {
			nodes = append(nodes, u)
		}
	}
	c.mu.Lock()
	c.nodes, c.next = nodes, 0
	c.mu.Unlock()
	return nil
}
