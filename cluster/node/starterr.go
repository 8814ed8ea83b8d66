package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/granary-rt/granary/cluster/membership"
	consul "github.com/hashicorp/consul/api"
)

// ErrConsulRefused: Consul refused the node's requests for want of
// permission (403): a wrong or expired token, or one without the policy a
// node needs. Retrying cannot mend it, so Start fails at once.
var ErrConsulRefused = errors.New("node: Consul refused this node's token")

// startErr says, in an operator's terms, why a cluster member's Start
// failed at a step that needs Consul: Consul's address, and whether it
// refused the token, did not answer within JoinTimeout, or the start was
// cut short (a signal) while waiting for it. Errors of an embedded node
// pass unchanged.
func (n *Node) startErr(ctx context.Context, what string, err error) error {
	if err == nil || n.cfg.Embedded() {
		return err
	}
	addr := n.cfg.Consul.Address
	switch {
	case errors.Is(err, membership.ErrNotAllowed):
		return err // says so already
	case consulForbidden(err):
		return fmt.Errorf("%w at %s while %s: the token (CONSUL_HTTP_TOKEN or CONSUL_HTTP_TOKEN_FILE) is wrong, expired, or lacks the policy in the README (\"Securing a cluster\"): %w",
			ErrConsulRefused, addr, what, err)
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && n.cfg.JoinTimeout > 0:
		return fmt.Errorf("node: Consul at %s was not reached within the join timeout (%s) while %s: %w", addr, n.cfg.JoinTimeout, what, err)
	case ctx.Err() != nil:
		return fmt.Errorf("node: start given up while waiting for Consul at %s (%s): %w", addr, what, err)
	}
	return err
}

// consulForbidden reports a 403 from Consul.
func consulForbidden(err error) bool {
	var se consul.StatusError
	if errors.As(err, &se) {
		return se.Code == 403
	}
	var sep *consul.StatusError
	if errors.As(err, &sep) && sep != nil {
		return sep.Code == 403
	}
	msg := err.Error()
	return strings.Contains(msg, "response code: 403") || strings.Contains(msg, "ACL not found")
}

// apiAuth says in the start line how clients authenticate to the API:
// tokens (from --tokens, or $GRANARY_WRITE_TOKEN and $GRANARY_READ_TOKEN,
// which a shell set up for a remote cluster may carry into a local
// `granary dev`), or none.
func (n *Node) apiAuth() string {
	if n.cfg.Tokens == nil {
		return "none"
	}
	return "bearer tokens"
}
