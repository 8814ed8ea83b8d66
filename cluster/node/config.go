package node

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/tasks"
	consul "github.com/hashicorp/consul/api"
	"go.opentelemetry.io/otel/trace"
)

// ErrInvalidConfig wraps every error of Config.Validate, so a caller can
// tell a configuration mistake (fix the flags) from a failure at run time.
var ErrInvalidConfig = errs.New("invalid node configuration", errs.ErrInvalidConfig)

// Config configures a Node. Start from DefaultConfig, set Registry, and
// for a cluster member Cluster, Consul and BindAddr. Consul nil is the
// embedded mode: one member, tasks in a bbolt file under DataDir, grains
// in this process; `granary dev` is that mode, `granary node` the other.
type Config struct {
	// Registry holds the task and grain kinds the node can host: the
	// application's. Required. Register every kind before New.
	Registry *actors.Registry
	// Kinds are the kinds this node hosts, a subset of Registry; nil or
	// empty hosts all of them. A node receives activations and tasks only
	// of the kinds it hosts, which is how roles are made.
	Kinds []string

	// NodeID is this member's id: the owner recorded on its tasks and its
	// Consul service id. Empty: "dev" when embedded; in a cluster the
	// host name and BindAddr's port, which is unique per machine and
	// stable across restarts (a restarted member finds its own tasks).
	NodeID string
	// Cluster names the cluster; members of one cluster share it, and it
	// separates clusters that share a Consul. Required with Consul.
	Cluster string
	// Consul configures the Consul client (address, token, TLS), as
	// ConsulConfig makes it from Consul's own CONSUL_* variables. Nil: the
	// embedded mode.
	Consul *consul.Config
	// BindAddr is the node-to-node address, host:port, that the other
	// members dial: a concrete host, not 0.0.0.0. Port 0 picks a free one
	// (Addr tells which). Required with Consul (unless System is set);
	// unused when embedded.
	BindAddr string
	// AdvertiseAddr is the node-to-node address the other members are told
	// to dial, when it is not BindAddr: a proxy, a NAT or a container's
	// port mapping in front of it. Empty: BindAddr (with the port chosen).
	AdvertiseAddr string
	// HTTPAddr is the address of the HTTP API, host:port; Consul's health
	// check polls its /healthz. Port 0 picks a free one (HTTPAddr tells).
	HTTPAddr string
	// System, when set, is the actor system the node runs on instead of
	// one of its own: the caller has started it (with gRPC remoting, for
	// a cluster member) and shuts it down, and BindAddr is unused. Several
	// members of one process can share one, as tests do: protoactor sets
	// gRPC's process-wide logger each time a remote starts, which races
	// with the gRPC connections of remotes already running. Nil: the node
	// makes its own, with remoting on BindAddr in a cluster.
	System *actor.ActorSystem
	// DataDir holds the embedded mode's task store (tasks.db). Unused in
	// a cluster, whose tasks live in Consul KV.
	DataDir string

	// IdleTimeout deactivates a grain that received nothing for this long.
	IdleTimeout time.Duration
	// Retention is how long finished tasks (results, dead letters) are kept.
	Retention time.Duration
	// DrainTimeout bounds Stop: how long grains may hand off and running
	// attempts may finish before they are cut off (a cut-off attempt runs
	// again, on another member or at the next start).
	DrainTimeout time.Duration
	// AbandonedAttempts caps the task attempts whose handler did not
	// return when the attempt ended (it ignores its context), per kind
	// and for the member; past a cap, attempts wait on this member (see
	// tasks.AbandonLimits).
	AbandonedAttempts tasks.AbandonLimits
	// KeepIdleActors makes a task that only waits for its next attempt or
	// its start time keep its actor (tasks.Config.ParkIdle off): about 9
	// KB of memory per waiting task instead of 1 KB. The zero value parks
	// them, as tasks.DefaultConfig does.
	KeepIdleActors bool
	// JoinTimeout bounds how long Start waits for Consul (to list this
	// member's tasks and to join); 0 waits until Start's context ends.
	JoinTimeout time.Duration
	// MaxHTTPConns caps the HTTP API's open connections; past it, the
	// oldest connection not serving a request is closed (0: no cap).
	MaxHTTPConns int
	// PeerProbe configures the probe of the peers' remoting that fails
	// /healthz when this member reaches none of them (peerprobe.go). The
	// zero value is DefaultPeerProbeConfig(). Unused when embedded.
	PeerProbe PeerProbeConfig

	// ClusterCA, ClusterCert and ClusterKey are PEM files: the cluster's
	// CA, and this member's certificate and key, signed by it, naming the
	// host other members dial (BindAddr's, or AdvertiseAddr's). Set (all
	// three), node-to-node remoting is mutual TLS: a peer without a
	// certificate of the cluster CA is refused during the handshake,
	// before any message is read. Empty: plaintext remoting, which
	// checkExposure allows on loopback only (or with Insecure). Unused when
	// embedded or with System.
	ClusterCA, ClusterCert, ClusterKey string
	// TLSCert and TLSKey are PEM files of the HTTP API's certificate and
	// key. Set, the API is served over TLS; plain HTTP on the same port
	// answers only /healthz (Consul's HTTP check polls it over plain
	// HTTP). Members call each other's APIs trusting the system's CAs, the
	// cluster CA and their own certificate: sign the members' API
	// certificates with one of those.
	TLSCert, TLSKey string
	// Tokens are the API's bearer tokens and their roles
	// (httpapi.LoadTokens); nil serves every request. /healthz stays open
	// (it tells a caller without a token only whether the node is healthy);
	// in a cluster, members call each other's APIs with the first write
	// token, so the members of a cluster share their token lists.
	Tokens *httpapi.Tokens
	// Insecure lets the node listen beyond loopback without TLS and tokens
	// on the HTTP API, or without a cluster CA on BindAddr. Without it, New
	// refuses such a configuration: anyone who reaches the port could
	// submit, cancel and read tasks, or forge members' messages.
	Insecure bool

	// Pprof serves Go's profiles at /debug/pprof/ on the HTTP address
	// (with Tokens, to write tokens only).
	Pprof bool
	// Metrics serves Prometheus metrics at GET /metrics on the HTTP
	// address (with Tokens, to read tokens and up), from a registry of the
	// node's own (package metrics). Off, nothing is recorded.
	Metrics bool
	// Version is what this member says it is built from, in the members
	// list and the console, so that a rolling upgrade's mixed versions
	// show. Empty: the binary's build information (its main package, its
	// module's version or VCS revision, Granary's version in an
	// application, the Go version), which is what an operator needs
	// without anyone setting it. At most 256 bytes.
	Version string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// TracerProvider records the node's spans (tasks, grain calls, HTTP
	// requests), which the node leaves to its caller to flush. Nil: the
	// node builds one from OpenTelemetry's environment variables
	// (tracing.New: off unless they ask), and flushes it on Stop.
	TracerProvider trace.TracerProvider
}

// DefaultConfig returns an embedded node's configuration with Granary's
// defaults; set Registry, and Cluster, Consul and BindAddr for a member
// of a cluster.
func DefaultConfig() Config {
	return Config{
		// Loopback: an API without authentication must not be reachable
		// from other hosts unless the operator says so; 8080 is what the
		// CLI's --addr defaults to, so `granary submit` finds it.
		HTTPAddr: "127.0.0.1:8080",
		// A directory beside where the node runs, like `granary dev`'s, so
		// a restarted dev node finds its tasks again.
		DataDir: ".granary",
		// 5 minutes: an idle grain costs memory and a directory entry;
		// reactivating it costs one claim (grains.DefaultConfig's reason).
		IdleTimeout: grains.DefaultConfig("").IdleTimeout,
		// 7 days of results and dead letters (tasks.DefaultConfig's reason).
		Retention: tasks.DefaultConfig("").Retention,
		// 30s: Kubernetes' default termination grace period, so a node
		// stopped by it drains within the time it is given.
		DrainTimeout: 30 * time.Second,
		// 64 a kind, 256 in all (tasks.DefaultAbandonLimits' reasons).
		AbandonedAttempts: tasks.DefaultAbandonLimits(),
		// Parked (tasks.DefaultConfig's reason): a member holds many more
		// waiting tasks in the same memory.
		KeepIdleActors: !tasks.DefaultConfig("").ParkIdle,
		// 0: wait for Consul as long as the caller does. A process
		// supervisor that restarts a node which gave up achieves nothing
		// more, and the node logs what it is waiting for meanwhile.
		JoinTimeout: 0,
		// 4096: far more than clients, members and Consul's check need
		// (they keep a few connections each), far fewer than the file
		// descriptors a process gets (Go raises the soft limit to the
		// hard one, 1M on most Linux systems), and about 40 MiB of
		// buffers and goroutines at most.
		MaxHTTPConns: 4096,
		// Probe every second, unreachable after 10s (DefaultPeerProbeConfig's reasons).
		PeerProbe: DefaultPeerProbeConfig(),
		// On: an operator needs them on a bad day, not after it, and they
		// cost an atomic add per step on hot paths (make bench measures
		// durable and grain call throughput with them on and off).
		Metrics: true,
	}
}

// Embedded reports whether the configuration is the embedded mode.
func (c Config) Embedded() bool { return c.Consul == nil }

// Validate reports a configuration that cannot work, wrapping
// ErrInvalidConfig, before anything starts.
func (c Config) Validate() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Registry == nil {
		return fail("Registry is required")
	}
	if _, err := c.hostedKinds(); err != nil {
		return fail("%v", err)
	}
	if len(c.Version) > membership.MaxVersionBytes {
		return fail("Version: %d bytes, at most %d", len(c.Version), membership.MaxVersionBytes)
	}
	if _, _, err := splitHostPort(c.HTTPAddr); err != nil {
		return fail("HTTPAddr %q: %v", c.HTTPAddr, err)
	}
	for name, d := range map[string]time.Duration{"IdleTimeout": c.IdleTimeout, "Retention": c.Retention, "DrainTimeout": c.DrainTimeout} {
		if d <= 0 {
			return fail("%s must be positive, got %s", name, d)
		}
	}
	if err := c.AbandonedAttempts.Validate(); err != nil {
		return fail("AbandonedAttempts: %v", err)
	}
	if c.MaxHTTPConns < 0 {
		return fail("MaxHTTPConns must not be negative, got %d", c.MaxHTTPConns)
	}
	if c.JoinTimeout < 0 {
		return fail("JoinTimeout must not be negative, got %s", c.JoinTimeout)
	}
	if c.PeerProbe != (PeerProbeConfig{}) {
		if err := c.PeerProbe.Validate(); err != nil {
			return fail("%v", err)
		}
	}
	if err := c.checkSecurityFiles(); err != nil {
		return fail("%v", err)
	}
	if c.Embedded() || c.System != nil {
		if err := c.checkExposure(); err != nil {
			return fail("%v", err)
		}
	}
	if c.Embedded() {
		if c.DataDir == "" {
			return fail("DataDir is required when embedded (no Consul)")
		}
		return nil
	}
	if c.Cluster == "" {
		return fail("Cluster is required with Consul")
	}
	if strings.ContainsFunc(c.Cluster, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		// It names the cluster's Consul service and key prefix.
		return fail("Cluster %q: a cluster name has no '/', spaces or control characters", c.Cluster)
	}
	if err := checkConsulAddr(c.Consul.Address); err != nil {
		return fail("Consul address %q: %v", c.Consul.Address, err)
	}
	if c.System != nil {
		return nil
	}
	host, _, err := splitHostPort(c.BindAddr)
	if err != nil {
		return fail("BindAddr %q: %v", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		advHost, advPort, err := splitHostPort(c.AdvertiseAddr)
		if err != nil || advPort == 0 {
			return fail("AdvertiseAddr %q: want HOST:PORT with a port", c.AdvertiseAddr)
		}
		host = advHost
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fail("BindAddr %q: other members dial this address; give a concrete host, not %s (or set AdvertiseAddr)", c.BindAddr, host)
	}
	if err := c.checkExposure(); err != nil {
		return fail("%v", err)
	}
	return nil
}

// hostedKinds checks Kinds against the registry and returns the kinds the
// node hosts.
func (c Config) hostedKinds() ([]string, error) {
	all := append(c.Registry.TaskKinds(), c.Registry.GrainKinds()...)
	if len(c.Kinds) == 0 {
		if len(all) == 0 {
			return nil, errors.New("the registry holds no kinds: register the application's kinds before New")
		}
		return all, nil
	}
	known := map[string]bool{}
	for _, k := range all {
		known[k] = true
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(c.Kinds))
	for _, k := range c.Kinds {
		if !known[k] {
			return nil, fmt.Errorf("kind %q is not registered (registered: %s)", k, strings.Join(all, ", "))
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// memberID is NodeID or its default.
func (c Config) memberID() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	if c.Embedded() {
		return "dev"
	}
	host, _ := os.Hostname()
	_, port, _ := splitHostPort(c.BindAddr)
	if c.System != nil {
		_, port, _ = splitHostPort(c.System.Address())
	}
	return fmt.Sprintf("%s-%d", strings.ToLower(cmp.Or(host, "node")), port)
}

// splitHostPort checks host:port with a host and a port in 0..65535.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, errors.New("want HOST:PORT")
	}
	port, err := strconv.Atoi(p)
	if err != nil || host == "" || port < 0 || port > 65535 {
		return "", 0, errors.New("want HOST:PORT with a host and a port")
	}
	return host, port, nil
}

// checkConsulAddr refuses a Consul address the Consul client would take
// and then fail on at every request, forever: HOST:PORT, optionally
// after http:// or https://, or unix:///PATH.
func checkConsulAddr(addr string) error {
	if strings.HasPrefix(addr, "unix://") {
		return nil
	}
	rest := addr
	if scheme, r, ok := strings.Cut(addr, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return fmt.Errorf("scheme %q: want http, https or unix", scheme)
		}
		rest = r
	}
	if _, _, err := splitHostPort(rest); err != nil {
		return fmt.Errorf("%v (HOST:PORT, http://HOST:PORT or https://HOST:PORT, without a path)", err)
	}
	return nil
}

// ConsulConfig is consul/api's DefaultConfig, which reads Consul's own
// environment variables (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
// CONSUL_CACERT, …), with a connection pool sized for a node; addr, when
// not empty, overrides the address.
func ConsulConfig(addr string) *consul.Config {
	c := consul.DefaultConfig()
	// Task waits, the owner-index watch and membership hold blocking
	// queries while batched writes run beside them; the pooled transport
	// keeps only GOMAXPROCS+1 idle connections, so under load the rest
	// would be closed and dialled again for every request.
	c.Transport.MaxIdleConnsPerHost = 128
	// But never more than 96 at once: Consul accepts 200 connections per
	// client address (http_max_conns_per_client), and past that refuses
	// everything from it, lease renewals of every member on the host
	// included. Requests beyond 96 wait for a connection instead; waiters
	// hold at most consulstore's MaxWatches (32) of them, and the lease is
	// renewed over connections of its own.
	c.Transport.MaxConnsPerHost = 96
	if addr != "" {
		c.Address = addr
	}
	return c
}
