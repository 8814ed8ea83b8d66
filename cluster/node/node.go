package node

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/cluster/buildinfo"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/grainstate/boltstate"
	"github.com/granary-rt/granary/cluster/grainstate/consulstate"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/schedule"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/cluster/tracing"
	consul "github.com/hashicorp/consul/api"
	"go.opentelemetry.io/otel/trace"
)

var (
	// ErrStarted: Start was called on a node that was started before (a
	// stopped node is not started again: make a new one).
	ErrStarted = errors.New("node: already started")
	// ErrNotStarted: the node has not been started, or did not start.
	ErrNotStarted = errors.New("node: not started")
)

// Node is one Granary member: the application's kinds hosted on an actor
// system, its task manager over a durable store, its grain host, the HTTP
// API, and (in a cluster) membership through Consul and the reconciler
// that adopts the tasks of members that leave.
type Node struct {
	cfg    Config
	sec    security
	id     string
	hosted []string
	log    *slog.Logger
	// version is cfg.Version, or the binary's build information.
	version string

	mu      sync.Mutex // serialises Start and Stop
	started bool
	stopped bool
	stopErr error

	ln             net.Listener
	sys            *actor.ActorSystem
	ownSys         bool // made here (not Config.System): shut down here
	rem            *remote.Remote
	st             store.Store
	bolt           *boltstore.Store // embedded: tasks and grain state
	grainState     grains.StateStore
	closeDir       func() // stops the grain state store's write batching; nil when embedded
	closeStore     func() error
	host           *grains.Host
	mgr            *tasks.Manager
	recon          *reconciler.Reconciler
	sched          *schedule.Service // nil: the store keeps no schedules
	srv            *http.Server
	serveErr       chan error
	cancelRequests context.CancelFunc
	clocks         *clockCheck // the members' clocks against this one's (view goroutine)
	client         *client.Client
	// memberHTTP calls the other members' APIs.
	memberHTTP *http.Client
	// metrics are the node's instruments; nil with Config.Metrics off.
	metrics *metrics.Metrics
	health  memberHealth
	// hostStopping: the drain has begun stopping the grain host (drain.go).
	hostStopping atomic.Bool
	// draining: Stop has begun the drain (drain.go).
	draining atomic.Bool
	// probe probes the peers' remoting (peerprobe.go) once joined; nil
	// before, and embedded. /healthz reads it from the start.
	probe atomic.Pointer[peerProbe]
	// leaseHTTP is the transport of membership's Consul client: made here
	// (to count its round trips), closed here after leaving.
	leaseHTTP *http.Transport

	// mem is the cluster membership once joined (nil embedded or before).
	mem atomic.Pointer[membership.Membership]
	// placed is the members as task placement sees them, from the last
	// view, so a submit need not copy the view.
	placed    atomic.Pointer[[]placement.Member]
	stopViews func()
	viewsDone chan struct{}
	// tp is the tracer provider the node's parts get (nil: tracing off);
	// tracing, the one it built from the environment, flushed on Stop.
	tp      trace.TracerProvider
	tracing *tracing.Provider
	// reports caches GET /v1/cluster's answer (console.go).
	reports clusterReports
}

// New checks cfg and returns a node that is not started yet.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hosted, _ := cfg.hostedKinds()
	sec, err := loadSecurity(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n := &Node{cfg: cfg, sec: sec, id: cfg.memberID(), hosted: hosted, log: cfg.Logger, metrics: newMetrics(cfg)}
	n.version = cmp.Or(cfg.Version, buildinfo.Current())
	n.memberHTTP = n.newMemberHTTP()
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n.log = n.log.With("member", n.id)
	n.metrics.ReadMembers(n.health.read)
	n.metrics.ReadFenced(func() bool { return !n.cfg.Embedded() && n.fenced() })
	if n.cfg.Embedded() {
		n.health.update(membership.View{Members: []membership.Member{{ID: n.id}}}, time.Now()) // a cluster of one
	}
	return n, nil
}

// ID is this member's id.
func (n *Node) ID() string { return n.id }

// Addr is the node-to-node address other members dial, once started; ""
// when embedded (there are no other members).
func (n *Node) Addr() string {
	if n.cfg.Embedded() || n.sys == nil {
		return ""
	}
	return n.sys.Address()
}

// HTTPAddr is the address the HTTP API listens on, once started (with the
// port chosen when Config.HTTPAddr asked for port 0).
func (n *Node) HTTPAddr() string {
	if n.ln == nil {
		return ""
	}
	return n.ln.Addr().String()
}

// Client is a client of this node's API, for in-process calls, once
// started; it is the Go client every other process uses, so what works
// through it works from anywhere.
func (n *Node) Client() *client.Client { return n.client }

// Start brings the node up and returns once it serves: embedded, at once;
// in a cluster, once it has joined through Consul, waiting for Consul (with
// backoff, logging what it waits for) until ctx ends or JoinTimeout passes.
// On an error, whatever had started is stopped again.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return ErrStarted
	}
	n.started = true
	defer func() {
		if err != nil {
			n.stopped = true
			n.teardown(context.Background())
		}
	}()
	if n.cfg.JoinTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.JoinTimeout)
		defer cancel()
	}
	if n.ln, err = net.Listen("tcp", n.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("node: cannot listen on the HTTP address %s: %w", n.cfg.HTTPAddr, err)
	}
	var cc *consul.Client
	if n.sys = n.cfg.System; n.sys == nil {
		n.sys, n.ownSys = tasks.NewActorSystem(n.log), true
		if !n.cfg.Embedded() {
			if err := n.startRemote(); err != nil {
				return err
			}
		}
	}
	if !n.cfg.Embedded() {
		ccfg, err := n.consulConfig(n.cfg.Consul)
		if err == nil {
			cc, err = consul.NewClient(ccfg)
		}
		if err != nil {
			return fmt.Errorf("node: consul client: %w", err)
		}
	}
	if n.cfg.Embedded() {
		// One file holds this node's tasks and its grains' state.
		bs, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(n.cfg.DataDir, DatabaseFile)))
		if err != nil {
			return fmt.Errorf("node: opening the store in %s: %w", n.cfg.DataDir, err)
		}
		n.bolt, n.closeStore = bs, bs.Close
	}
	if err := n.startTracing(ctx); err != nil {
		return err
	}
	if err := n.startGrains(cc); err != nil {
		return err
	}
	if !n.cfg.Embedded() {
		n.log.Info("reaching Consul", "consul", n.cfg.Consul.Address, "cluster", n.cfg.Cluster, "join_timeout", n.cfg.JoinTimeout)
	}
	if err := n.startTasks(ctx, cc); err != nil {
		return n.startErr(ctx, "listing this member's tasks", err)
	}
	n.serveHTTP()
	ccfg := client.Config{Addr: n.memberURL(n.HTTPAddr()), Token: n.cfg.Tokens.Internal()}
	if n.sec.api != nil {
		ccfg.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: n.sec.memberRoots}
	}
	if n.client, err = client.New(ccfg); err != nil {
		return err
	}
	if n.cfg.Embedded() {
		n.host.SetView([]grains.Member{{ID: n.id, Addr: n.sys.Address(), Kinds: n.host.HostedKinds()}})
		n.log.Info("granary node started (embedded)", "http", n.memberURL(n.HTTPAddr()), "console", n.consoleURL(), "data_dir", n.cfg.DataDir,
			"task_kinds", n.hostedOf(n.cfg.Registry.TaskKinds()), "grain_kinds", n.host.HostedKinds(), "api_auth", n.apiAuth())
		return nil
	}
	return n.startErr(ctx, "joining", n.join(ctx))
}

// startRemote starts gRPC remoting on BindAddr, turning protoactor's panic
// on a taken port into an error.
func (n *Node) startRemote() (err error) {
	host, port, _ := splitHostPort(n.cfg.BindAddr)
	opts := n.sec.remoteOptions()
	if n.cfg.AdvertiseAddr != "" {
		opts = append(opts, remote.WithAdvertisedHost(n.cfg.AdvertiseAddr))
	}
	r := remote.NewRemote(n.sys, remote.Configure(host, port, opts...))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("node: cannot listen on the bind address %s: %v", n.cfg.BindAddr, p)
		}
	}()
	r.Start()
	n.rem = r
	return nil
}

// startGrains starts the grain host: its directory of activations is
// Consul in a cluster, this process when embedded.
func (n *Node) startGrains(cc *consul.Client) error {
	gcfg := grains.DefaultConfig(n.id)
	gcfg.Registry, gcfg.System, gcfg.Logger, gcfg.IdleTimeout = n.cfg.Registry, n.sys, n.log, n.cfg.IdleTimeout
	gcfg.Kinds = n.hostedOf(n.cfg.Registry.GrainKinds())
	if n.cfg.Embedded() {
		gcfg.Directory, n.grainState = &grains.LocalDirectory{}, boltstate.New(n.bolt)
	} else {
		// Claims and durable state live side by side in Consul KV, so a
		// state write can check its claim in the same transaction.
		dir := consuldir.New(cc, n.cfg.Cluster, n.session)
		// Its watches (a blocking query per reminder shard this member
		// fires, up to 64) hold connections for up to 30s each: on the
		// store's capped pool they once left grain claims waiting for a
		// connection for 20s after a member died. They get a pool of their
		// own.
		watches := *n.cfg.Consul
		if watches.HttpClient == nil {
			watches.Transport = consul.DefaultConfig().Transport
			watches.Transport.MaxIdleConnsPerHost = 64
		}
		wcfg, err := n.consulConfig(&watches)
		var wc *consul.Client
		if err == nil {
			wc, err = consul.NewClient(wcfg)
		}
		if err != nil {
			return fmt.Errorf("node: consul client for watches: %w", err)
		}
		dir.WatchWith(wc)
		state := consulstate.New(cc, n.cfg.Cluster, n.session).WatchWith(wc)
		// State writes send their transactions themselves (cheaper than
		// consul/api's encoding), through the client's transport and its
		// metrics.
		if scfg, err := n.consulConfig(n.cfg.Consul); err == nil {
			state.WriteWith(scfg)
		}
		n.closeDir = state.Close
		gcfg.Directory, n.grainState, gcfg.Fenced = dir, state, n.fenced
	}
	// Counted as the task store is (nil metrics: the store itself); the
	// HTTP API's reads and deletes of a grain's state go through it too.
	n.grainState = grains.InstrumentState(n.grainState, n.metrics)
	gcfg.State, gcfg.TracerProvider, gcfg.Metrics = n.grainState, n.tp, n.metrics
	host, err := grains.New(gcfg)
	if err != nil {
		return err
	}
	n.host = host
	return host.Start()
}
