package membership

import (
	"errors"

	"github.com/granary-rt/granary/cluster/errs"
)

// Sentinel errors. Functions wrap them with %w and a precise message; match
// them with errors.Is.
var (
	// ErrInvalidConfig is returned by Config.Validate, and by Join for a
	// configuration Validate rejects or a Consul client that cannot be built
	// from Config.Consul (for example an unreadable CA file).
	ErrInvalidConfig = errs.New("membership: invalid config", errs.ErrInvalidConfig)

	// ErrUnavailable is returned by Join when its context ended before the
	// node was registered, held a session and saw itself in the view. The
	// error also carries the last Consul error, if there was one.
	ErrUnavailable = errs.New("membership: consul unavailable", errs.ErrUnavailable)

	// ErrNotAllowed is returned by Join when Consul refuses the node for
	// its ACLs (403: no token, or a token without the rights the README's
	// policy lists). Retrying would not help: fix the token.
	ErrNotAllowed = errors.New("membership: consul refused: not allowed")

	// ErrDuplicateNode is returned by Join when another live process is a
	// member under the same node id.
	ErrDuplicateNode = errors.New("membership: node id already in use")

	// ErrRemotingMismatch is returned by Join when the live members'
	// remoting differs from this node's (Config.Remoting): one side uses
	// mutual TLS with a cluster CA and the other plaintext or another CA,
	// so neither could deliver a message to the other.
	ErrRemotingMismatch = errors.New("membership: remoting does not match the cluster's")

	// ErrFenced is returned by CheckLease while the node must not act: its
	// lease has expired by the monotonic clock (a pause, a partition), it
	// is fenced, holds no session, or has left.
	ErrFenced = errs.New("membership: fenced", errs.ErrFenced)
)
