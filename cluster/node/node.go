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
	"net/http/pprof"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/cluster/buildinfo"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/schedule"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/consulstore"
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

// shutdownHTTP bounds the HTTP server's shutdown after the drain: long
// polls are woken by then, so it waits only for answers being written.
const shutdownHTTP = 5 * time.Second

// leaveTimeout bounds leaving Consul (its session and registration) at
// the end of Stop, after the drain: two round trips to a healthy Consul.
const leaveTimeout = 5 * time.Second

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
	closeDir       func() // stops the grain directory's write batching; nil when embedded
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
		gcfg.Directory, n.grainState = &grains.LocalDirectory{}, n.bolt
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
		// State writes send their transactions themselves (cheaper than
		// consul/api's encoding), through the client's transport and its
		// metrics.
		if scfg, err := n.consulConfig(n.cfg.Consul); err == nil {
			dir.WriteWith(scfg)
		}
		n.closeDir = dir.Close
		gcfg.Directory, n.grainState, gcfg.Fenced = dir, dir, n.fenced
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

// startTasks opens the task store (Consul KV in a cluster, bbolt when
// embedded), starts the task manager, and in a cluster makes the
// reconciler that adopts the tasks of members that leave.
func (n *Node) startTasks(ctx context.Context, cc *consul.Client) error {
	tcfg := tasks.DefaultConfig(n.id)
	tcfg.Registry, tcfg.System, tcfg.Logger, tcfg.Retention = n.cfg.Registry, n.sys, n.log, n.cfg.Retention
	tcfg.Abandoned = n.cfg.AbandonedAttempts
	var index reconciler.Index // the owner index, in a cluster
	if n.cfg.Embedded() {
		n.st = n.bolt
		// The store is this node's alone: every unfinished task is its own.
		tcfg.RecoverAll = true
	} else {
		scfg := consulstore.DefaultConfig(n.cfg.Cluster)
		scfg.Logger = n.log // the index's reconciles report there
		scfg.Writer = n.id  // a restarted member writes the counter shards it wrote before
		cs, err := consulstore.New(cc, scfg)
		if err != nil {
			return err
		}
		n.st, index = cs, cs
		tcfg.Fenced = n.fenced
		tcfg.Owner = n.taskOwner
		// One member sweeps expired tasks: the placement owner of "janitor".
		tcfg.Janitor = func() bool { return janitor(n.view()) == n.id }
		tcfg.Peers = &peers{sys: n.sys, self: n.id, view: n.view, client: n.memberClient}
	}
	tcfg.Store, tcfg.TracerProvider, tcfg.Metrics = n.metrics.Store(n.st), n.tp, n.metrics
	mgr, err := tasks.New(tcfg)
	if err != nil {
		return err
	}
	n.mgr = mgr
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	if err := n.startSchedules(tcfg.Owner, tcfg.Fenced); err != nil {
		return err
	}
	if index != nil {
		rcfg := reconciler.DefaultConfig()
		rcfg.Member, rcfg.Index, rcfg.Tasks, rcfg.Fenced, rcfg.Logger, rcfg.Metrics = n.id, index, mgr, n.fenced, n.log, n.metrics
		if n.recon, err = reconciler.New(rcfg); err != nil {
			return err
		}
	}
	return nil
}

// serveHTTP serves the API (and the profiles, if asked) on the listener.
func (n *Node) serveHTTP() {
	hcfg := httpapi.DefaultConfig()
	hcfg.Member, hcfg.Logger, hcfg.Grains, hcfg.Activations = n.id, n.log, n.host, n.host.Activations
	hcfg.Members = n.members
	hcfg.Registry, hcfg.Kinds = n.cfg.Registry, n.hosted
	hcfg.GrainState, hcfg.TracerProvider = n.grainState, n.tp
	hcfg.Self, hcfg.Cluster = n.selfReport, n.clusterReport
	if n.sched != nil {
		hcfg.Schedules = n.sched
	}
	if c := n.cfg.MaxHTTPConns; c > 0 {
		// Requests held at once stay below the connection cap, so it always
		// finds an idle connection to close for a newcomer (/healthz,
		// Consul's check): long polls hold at most half the connections,
		// other requests a quarter. Long polls filling every connection
		// shut out /healthz, and the member dropped out of the view.
		hcfg.MaxWaiters = min(hcfg.MaxWaiters, max(1, c/2))
		hcfg.MaxInflight = min(hcfg.MaxInflight, max(1, c/4))
	}
	if n.cfg.Embedded() {
		hcfg.Health = func(ctx context.Context) error {
			if err := n.mgr.Ping(ctx); err != nil {
				return err
			}
			if err := n.bolt.Healthy(ctx); err != nil {
				return fmt.Errorf("degraded: the store takes no writes (the task and grain writes that fail are tried again): %w", err)
			}
			return n.host.Ping(ctx)
		}
	} else {
		hcfg.Health = n.healthz
	}
	// Long polls end when the node stops, so shutdown is not held up by
	// clients waiting for tasks.
	baseCtx, cancel := context.WithCancel(context.Background())
	n.cancelRequests = cancel
	n.srv = n.newHTTPServer(n.apiHandler(httpapi.New(n.mgr, hcfg)), baseCtx)
	n.serveErr = make(chan error, 1)
	ln := n.ln
	if n.sec.api != nil {
		ln = newSniffListener(n.ln, n.sec.api, n.cfg.MaxHTTPConns)
	}
	go func() {
		if err := n.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.serveErr <- fmt.Errorf("node: HTTP server: %w", err)
		}
	}()
}

// join joins the cluster through Consul, then follows its views.
func (n *Node) join(ctx context.Context) error {
	mcfg := membership.DefaultConfig()
	mcfg.Cluster, mcfg.NodeID, mcfg.Addr, mcfg.HTTPAddr, mcfg.Kinds = n.cfg.Cluster, n.id, n.sys.Address(), n.HTTPAddr(), n.hosted
	mcfg.Version, mcfg.Remoting = n.version, n.sec.remoting
	// The lease is renewed over connections of its own, which no load on
	// the store's (writes, waiters) can take: a member whose renewals
	// queued behind them would fence itself. Without a transport or an
	// HTTP client of the caller's, membership makes its own.
	lease := *n.cfg.Consul
	if lease.HttpClient == nil {
		lease.Transport = nil
		if n.metrics != nil {
			n.leaseHTTP = consul.DefaultConfig().Transport
			lease.Transport = n.leaseHTTP
		}
	}
	leaseCfg, err := n.consulConfig(&lease)
	if err != nil {
		return fmt.Errorf("node: consul client for the lease: %w", err)
	}
	mcfg.Consul, mcfg.Logger = leaseCfg, n.log
	mcfg.OnFence = func() {
		n.log.Warn("self-fenced: lease or session with Consul lost; stopping every grain and task")
		n.host.Fence()
		n.mgr.Fence()
	}
	mcfg.OnUnfence = func() {
		n.log.Info("lease restored; taking activations and tasks again")
		n.mgr.Resume()
		n.recon.Kick()
	}
	n.log.Info("joining the cluster through Consul", "cluster", n.cfg.Cluster, "consul", n.cfg.Consul.Address,
		"bind", n.sys.Address(), "http", n.HTTPAddr(), "kinds", n.hosted)
	m, err := membership.Join(ctx, mcfg)
	if err != nil {
		return fmt.Errorf("node: joining cluster %s: %w", n.cfg.Cluster, err)
	}
	n.mem.Store(m)
	views, stop := m.Watch()
	n.stopViews, n.viewsDone = stop, make(chan struct{})
	n.applyView(m.View())
	n.recon.Start()
	n.clocks = newClockCheck(n)
	n.clocks.check(m.View())
	n.probe.Store(startPeerProbe(n, cmp.Or(n.cfg.PeerProbe, DefaultPeerProbeConfig())))
	go func() {
		defer close(n.viewsDone)
		for v := range views {
			n.applyView(v)
			n.clocks.check(v)
		}
	}()
	n.log.Info("granary node started", "members", len(m.View().Members), "http", n.memberURL(n.HTTPAddr()), "console", n.consoleURL(),
		"task_kinds", n.hostedOf(n.cfg.Registry.TaskKinds()), "grain_kinds", n.host.HostedKinds(), "api_auth", n.apiAuth())
	return nil
}

// applyView gives a new view of the cluster to grain routing, task
// placement and the reconciler. Only the view goroutine calls it (and
// join, before that goroutine starts).
func (n *Node) applyView(v membership.View) {
	if n.metrics != nil {
		n.health.update(v, time.Now())
	}
	pv := placeable(v)
	n.host.SetView(toGrainMembers(pv))
	ms := toPlacement(pv)
	n.placed.Store(&ms)
	n.recon.SetView(ms)
}

// Failed receives an error if the node fails on its own after Start: its
// HTTP server stopped other than through Stop. The caller should then
// Stop the node; a process exits non-zero.
func (n *Node) Failed() <-chan error { return n.serveErr }

// Stop leaves gracefully, within ctx and DrainTimeout (drain.go): the
// member marks itself draining, so no new work is placed on it; running
// attempts finish and commit while it keeps its lease and session (those
// still running at the drain's deadline are handed off: they run again on
// a survivor, or at the next start when embedded); grains are deactivated
// (releasing their claims) so callers find them on other members; the
// member leaves Consul, then the API closes, waking long polls. Safe to
// call twice; the second call returns the first's result.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started {
		return ErrNotStarted
	}
	if n.stopped {
		return n.stopErr
	}
	n.stopped = true
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DrainTimeout)
	defer cancel()
	n.log.Info("stopping", "activations", n.host.Activations(), "running_attempts", n.mgr.Running(), "drain_timeout", n.cfg.DrainTimeout.String())
	n.stopErr = n.teardown(ctx)
	n.log.Info("granary node stopped")
	return n.stopErr
}

// teardown stops whatever has started, in the order of a graceful leave;
// what never started is skipped. It returns the drain's error: attempts
// or activations cut off by ctx.
func (n *Node) teardown(ctx context.Context) error {
	var errs []error
	work := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, dl.Add(-leaveReserve(n.cfg.DrainTimeout)))
		defer cancel()
	}
	if err := n.drainTasks(work); err != nil {
		errs = append(errs, err)
	}
	if n.host != nil {
		n.hostStopping.Store(true)
		if err := n.host.Stop(ctx); err != nil {
			n.log.Warn("deactivation cut short", "err", err)
			errs = append(errs, err)
		}
	}
	if n.closeDir != nil {
		n.closeDir()
	}
	if m := n.mem.Load(); m != nil {
		// Leaving has a bound of its own: a drain cut short by ctx has
		// spent it, and a member that leaves is adopted from at once,
		// while one that fails to leave is adopted from only when its
		// lease lapses.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
		defer cancel()
		if err := m.Leave(lctx); err != nil {
			n.log.Warn("leaving Consul failed; the registration expires by itself", "err", err)
		}
	}
	if n.leaseHTTP != nil {
		n.leaseHTTP.CloseIdleConnections()
	}
	if n.stopViews != nil {
		n.stopViews()
		<-n.viewsDone
	}
	if n.clocks != nil {
		n.clocks.stop()
	}
	if p := n.probe.Load(); p != nil {
		p.stop()
	}
	if n.srv != nil {
		n.cancelRequests()
		shut, cancel := context.WithTimeout(context.Background(), shutdownHTTP)
		defer cancel()
		if err := n.srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("HTTP shutdown", "err", err)
		}
	} else if n.ln != nil {
		n.ln.Close()
	}
	if n.rem != nil {
		// Not graceful: protoactor's graceful shutdown stops its endpoint
		// manager by writing fields that its endpoint goroutines read
		// unguarded (a data race the race detector reports). Grains and
		// tasks have drained by now, so only the server needs to stop.
		n.rem.Shutdown(false)
	}
	if n.ownSys {
		n.sys.Shutdown()
	}
	if n.closeStore != nil {
		if err := n.closeStore(); err != nil {
			errs = append(errs, fmt.Errorf("node: closing the task store: %w", err))
		}
	}
	n.stopTracing()
	return errors.Join(errs...)
}

// fenced reports self-fencing; a member that has not joined yet counts as
// fenced: it may not act for the cluster before it is part of it.
func (n *Node) fenced() bool {
	m := n.mem.Load()
	return m == nil || m.Fenced()
}

func (n *Node) session() string {
	if m := n.mem.Load(); m != nil {
		return m.Session()
	}
	return ""
}

func (n *Node) view() membership.View {
	if m := n.mem.Load(); m != nil {
		return m.View()
	}
	return membership.View{}
}

// taskOwner places a new task among the live members hosting its kind; ""
// (none known yet) keeps it with this member.
func (n *Node) taskOwner(kind, id string) string {
	if ms := n.placed.Load(); ms != nil {
		owner, _ := placement.TaskOwner(*ms, kind, id)
		return owner
	}
	return ""
}

// hostedOf keeps the kinds of all that this node hosts; never nil, which
// grains.Config.Kinds would read as "all".
func (n *Node) hostedOf(all []string) []string {
	out := []string{}
	for _, k := range all {
		if slices.Contains(n.hosted, k) {
			out = append(out, k)
		}
	}
	return out
}

// withPprof adds Go's profiles to h when asked for.
func withPprof(on bool, h http.Handler) http.Handler {
	if !on {
		return h
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
