package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/supervisor"
)

// Limits Validate enforces. Most are Consul's own, checked here so a bad
// value fails at start-up with a clear message instead of being clamped or
// rejected by the agent later.
const (
	// minDeregisterCriticalAfter is Consul's floor for
	// deregister_critical_service_after; smaller values are silently raised.
	minDeregisterCriticalAfter = time.Minute
	// minHTTPCheckInterval is Consul's floor for a check interval; smaller
	// values are silently raised to it by the agent.
	minHTTPCheckInterval = time.Second
	// maxLockDelay is the largest session lock-delay Consul accepts.
	maxLockDelay = 60 * time.Second
	// maxWatchWait is the longest blocking-query wait Consul honours.
	maxWatchWait = 10 * time.Minute
	// maxMetaValue is Consul's limit on one service meta value; the kinds
	// list is stored in one.
	maxMetaValue = 512
	// maxClusterName keeps "granary-"+Cluster within a 63-byte DNS label,
	// so the service is reachable through Consul DNS too.
	maxClusterName = 63 - len(servicePrefix)
	// maxNodeID bounds the node id, which appears in check ids and URLs.
	maxNodeID = 128
)

var (
	// clusterPattern: a lower-case DNS label, which is what Consul wants
	// for service names (it warns about anything else).
	clusterPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	// nodeIDPattern: the node id becomes the service id and part of check
	// ids that travel in URL paths, so it must need no escaping.
	nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// Config configures Join. Start from DefaultConfig, set the node's identity
// (Cluster, NodeID, Addr, HTTPAddr, Kinds) and keep the timings unless you
// have measured a reason to change them; Validate explains what must hold
// between them.
type Config struct {
	// Cluster names the cluster; the Consul service is "granary-"+Cluster.
	// A lower-case DNS label.
	Cluster string
	// NodeID identifies this node. It is the Consul service id, so it must
	// be unique among the nodes registered with the same Consul agent, and
	// should be unique in the cluster.
	NodeID string
	// Addr is the node-to-node address (granary node --bind), host:port with
	// a concrete host other members can dial.
	Addr string
	// HTTPAddr is the node's HTTP API address, host:port. Consul's HTTP
	// check polls http://HTTPAddr/healthz (see HealthPath), so the node must
	// serve it before calling Join.
	HTTPAddr string
	// Kinds lists the kinds this node hosts. Order does not matter; members
	// report them sorted.
	Kinds []string
	// Version is what this node is built from, as members list it (the
	// node passes buildinfo.Current()): a rolling upgrade's mixed versions
	// show in `granary members` and the console. At most MaxVersionBytes;
	// empty is allowed.
	Version string
	// Remoting says what this node's remoting asks of its peers, so that
	// members that could not talk to each other never share a view:
	// "" for plaintext, or RemotingMTLS of the cluster CA's certificates
	// for mutual TLS. Join refuses to start a node whose Remoting differs
	// from the live members' (ErrRemotingMismatch), and views leave out a
	// member whose Remoting differs from this node's. At most
	// MaxRemotingBytes.
	Remoting string

	// Consul configures the Consul client. Nil means api.DefaultConfig(),
	// which honours CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT and
	// the other CONSUL_* variables. Join copies it; it is not modified.
	Consul *api.Config

	// TTL is the lease: the TTL of the Consul check the node renews. When
	// the node stops renewing, Consul marks it critical after TTL, which
	// invalidates its session and drops it from every view.
	TTL time.Duration
	// RenewInterval is the time between lease renewals.
	RenewInterval time.Duration
	// FenceAfter is how old the last successful renewal may get before the
	// node fences itself. The age is measured from when that renewal was
	// sent, which is no later than when Consul's TTL timer restarted, so
	// with FenceAfter < TTL the node always fences before Consul can
	// declare it critical. Must be below TTL and above RenewInterval.
	FenceAfter time.Duration
	// RequestTimeout bounds every non-blocking Consul request
	// (registration, session calls) but renewals, which FenceAfter bounds.
	RequestTimeout time.Duration
	// HTTPCheckInterval is how often Consul polls http://HTTPAddr/healthz.
	HTTPCheckInterval time.Duration
	// HTTPCheckTimeout bounds one poll of /healthz.
	HTTPCheckTimeout time.Duration
	// DeregisterCriticalAfter is Consul's deregister_critical_service_after
	// on both checks: how long a dead node's registration lingers.
	DeregisterCriticalAfter time.Duration
	// LockDelay is the session's lock-delay: after the session is
	// invalidated, the locks it held cannot be taken for this long.
	LockDelay time.Duration
	// WatchWait is the wait of each blocking query.
	WatchWait time.Duration
	// Retry paces retries after Consul errors. Renewals never wait longer
	// than RenewInterval between attempts whatever Retry says: waiting
	// longer would only lose the lease sooner.
	Retry supervisor.Backoff

	// Logger receives structured logs. Nil means slog.Default().
	Logger *slog.Logger
	// Clock is the time source of the fencing decision. Nil means time.Now.
	Clock func() time.Time
	// OnFence is called when the node fences itself: its lease may have
	// lapsed or its session was invalidated, so it must stop executing and
	// committing durable work. OnUnfence is called when it holds a fresh
	// lease and a new session again. Both run on the membership's fencing
	// goroutine, strictly alternating (OnFence first), and must return
	// quickly; Fenced() has already changed when they are called. Either
	// may be nil.
	OnFence, OnUnfence func()
}

// DefaultConfig returns the timings Granary uses and an empty identity.
func DefaultConfig() Config {
	return Config{
		// 2s: the failover target is p50 <= 3s after kill -9 (Orleans
		// takes about 15s). Detection gets at most TTL of that budget;
		// placement and reactivation need the rest. Shorter leases turn a
		// GC pause or a busy Consul into a false failover.
		TTL: 2 * time.Second,
		// TTL/4: the node can lose three renewals in a row (a slow Consul,
		// a dropped connection) before FenceAfter is reached.
		RenewInterval: 500 * time.Millisecond,
		// TTL - RenewInterval/2: tolerates the three lost renewals above,
		// yet leaves RenewInterval/2 (250ms) between self-fencing and the
		// earliest moment Consul can declare the check critical, which
		// covers the fence check's own tick (a quarter of that margin)
		// and the time to stop work.
		FenceAfter: 1750 * time.Millisecond,
		// 1s: two renewal slots. A renewal that has not answered by then
		// is stuck on a dead connection; a fresh attempt does better.
		RequestTimeout: time.Second,
		// 1s: Consul's minimum check interval. A wedged node (the "fake
		// dead" one: process alive, actors stuck) goes critical within
		// interval + timeout = 2s, the same budget as a killed one.
		HTTPCheckInterval: time.Second,
		// 1s: a health round trip through an idle actor system takes
		// microseconds; one that needs a second is wedged.
		HTTPCheckTimeout: time.Second,
		// 1m: Consul's minimum (its reaper runs about every 30s, so the
		// registration actually goes 1m to 1.5m after the check turned
		// critical). Long enough that a partition shorter than a minute
		// heals by renewing alone; short enough that crashed nodes do not
		// pile up in the catalog.
		DeregisterCriticalAfter: time.Minute,
		// 1s instead of Consul's 15s. Lock-delay protects a holder that
		// does not yet know its session is gone. Our nodes fence
		// themselves before their TTL can lapse, and react to a session
		// invalidated for other reasons within one blocking-query round
		// trip, so the delay only has to outlast requests already in
		// flight, which RequestTimeout (1s) bounds.
		LockDelay: time.Second,
		// 30s rather than Consul's 5m: a blocking query is the only
		// traffic on its connection, so a connection silently dropped by
		// the network is noticed within WatchWait. Changes still arrive
		// at once; this only sets the idle re-poll rate.
		WatchWait: 30 * time.Second,
		Retry: supervisor.Backoff{
			// 100ms: a Consul leader election or agent restart takes
			// about a second or two; the first retries come quickly.
			Initial:    100 * time.Millisecond,
			Multiplier: 2,
			// 5s: a node should find Consul again within seconds of an
			// outage ending, and a cluster of nodes retrying at most every
			// few seconds is no load on a recovering Consul.
			Max: 5 * time.Second,
			// Full jitter: all nodes lose Consul together when it
			// restarts; jitter keeps them from coming back in lock-step.
			Jitter: supervisor.JitterFull,
		},
		// Logs go wherever the process sends slog's default logger.
		Logger: slog.Default(),
		Clock:  time.Now,
	}
}

// Validate reports whether c can work. Errors wrap ErrInvalidConfig and
// list every problem found.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case c.Cluster == "":
		bad("Cluster is empty")
	case len(c.Cluster) > maxClusterName || !clusterPattern.MatchString(c.Cluster):
		bad("Cluster %q is not a lower-case DNS label of at most %d bytes", c.Cluster, maxClusterName)
	}
	switch {
	case c.NodeID == "":
		bad("NodeID is empty")
	case len(c.NodeID) > maxNodeID || !nodeIDPattern.MatchString(c.NodeID):
		bad("NodeID %q must be at most %d letters, digits, '.', '_' or '-', starting with a letter or digit", c.NodeID, maxNodeID)
	}
	if err := checkHostPort(c.Addr); err != nil {
		bad("Addr: %v", err)
	}
	if err := checkHostPort(c.HTTPAddr); err != nil {
		bad("HTTPAddr: %v", err)
	}
	if len(c.Version) > MaxVersionBytes {
		bad("Version: %d bytes, at most %d", len(c.Version), MaxVersionBytes)
	}
	if len(c.Remoting) > MaxRemotingBytes {
		bad("Remoting: %d bytes, at most %d", len(c.Remoting), MaxRemotingBytes)
	}
	if err := checkKinds(c.Kinds); err != nil {
		bad("Kinds: %v", err)
	}

	positive := func(name string, d time.Duration) bool {
		if d <= 0 {
			bad("%s %v must be positive", name, d)
			return false
		}
		return true
	}
	if positive("TTL", c.TTL) && positive("FenceAfter", c.FenceAfter) && c.FenceAfter >= c.TTL {
		bad("FenceAfter %v must be below TTL %v, or Consul could declare the node dead while it still works", c.FenceAfter, c.TTL)
	}
	if positive("RenewInterval", c.RenewInterval) && c.FenceAfter > 0 && c.RenewInterval >= c.FenceAfter {
		bad("RenewInterval %v must be below FenceAfter %v, or one late renewal fences the node", c.RenewInterval, c.FenceAfter)
	}
	positive("RequestTimeout", c.RequestTimeout)
	if c.HTTPCheckInterval < minHTTPCheckInterval {
		bad("HTTPCheckInterval %v is below Consul's minimum %v", c.HTTPCheckInterval, minHTTPCheckInterval)
	}
	positive("HTTPCheckTimeout", c.HTTPCheckTimeout)
	if c.DeregisterCriticalAfter < minDeregisterCriticalAfter {
		bad("DeregisterCriticalAfter %v is below Consul's minimum %v", c.DeregisterCriticalAfter, minDeregisterCriticalAfter)
	}
	// Zero is refused on purpose: the api package omits a zero LockDelay,
	// and Consul then applies its 15s default.
	if c.LockDelay <= 0 || c.LockDelay > maxLockDelay {
		bad("LockDelay %v must be in (0, %v] (zero would silently mean Consul's 15s)", c.LockDelay, maxLockDelay)
	}
	if positive("WatchWait", c.WatchWait) && c.WatchWait > maxWatchWait {
		bad("WatchWait %v exceeds Consul's maximum %v", c.WatchWait, maxWatchWait)
	}
	if err := c.Retry.Validate(); err != nil {
		bad("Retry: %v", err)
	} else if c.Retry.IsZero() {
		bad("Retry is the zero Backoff: retries against an unreachable Consul would spin")
	}

	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// checkHostPort accepts host:port with a host other machines can dial.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; members need an address they can dial", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q is a wildcard address; advertise a concrete one", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}

// checkKinds requires non-empty, unique kind names without commas (they are
// stored comma-separated in one service meta value).
func checkKinds(kinds []string) error {
	seen := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		switch {
		case strings.TrimSpace(k) != k || k == "":
			return fmt.Errorf("kind %q is empty or has surrounding spaces", k)
		case strings.Contains(k, kindSeparator):
			return fmt.Errorf("kind %q contains %q", k, kindSeparator)
		case seen[k]:
			return fmt.Errorf("kind %q is listed twice", k)
		}
		seen[k] = true
	}
	if n := len(strings.Join(kinds, kindSeparator)); n > maxMetaValue {
		return fmt.Errorf("the kinds take %d bytes joined; Consul stores at most %d in one meta value", n, maxMetaValue)
	}
	return nil
}

// fenceCheckInterval is the period of the fence watchdog: a quarter of the
// margin between FenceAfter and TTL, so the node fences at the latest
// FenceAfter + (TTL-FenceAfter)/4 after its last successful renewal, still
// well before Consul can declare it critical.
func (c Config) fenceCheckInterval() time.Duration {
	return max((c.TTL-c.FenceAfter)/4, time.Millisecond)
}

// blockingTimeout bounds one blocking query: Consul may hold it for
// WatchWait plus up to WatchWait/16 of jitter, then it needs an ordinary
// request's time to answer.
func (c Config) blockingTimeout() time.Duration {
	return c.WatchWait + c.WatchWait/16 + c.RequestTimeout
}
