package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
	consul "github.com/hashicorp/consul/api"
)

// runNode runs one member of a Consul-discovered cluster.
func runNode(e *env, args []string) error {
	fs := newFlags(e, "node", "--cluster NAME --bind HOST:PORT --http HOST:PORT [flags]")
	cluster := fs.String("cluster", "", "cluster name (required); members of one cluster share it")
	consulAddr := fs.String("consul", "", "Consul HTTP address (default $CONSUL_HTTP_ADDR, else 127.0.0.1:8500)")
	bind := fs.String("bind", "", "node-to-node address HOST:PORT (required); other members dial it")
	httpAddr := fs.String("http", "", "HTTP API address HOST:PORT (required); Consul's health check polls it")
	kindList := fs.String("kinds", "", "comma-separated kinds this node hosts (default: all registered)")
	nodeID := fs.String("node-id", "", "member id (default: derived from the hostname and --bind port)")
	var sf serverFlags
	sf.register(fs, "on SIGTERM, how long grains may hand off and running attempts finish")
	idle := fs.Duration("idle-timeout", grains.DefaultConfig("").IdleTimeout, "deactivate a grain that received nothing for this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see granary node -h)", pos[0])
	}
	switch {
	case *cluster == "":
		return usageErr("--cluster is required")
	case *bind == "":
		return usageErr("--bind is required")
	case *httpAddr == "":
		return usageErr("--http is required")
	}
	bindHost, bindPort, err := splitHostPort("bind", *bind)
	if err != nil {
		return err
	}
	if _, _, err := splitHostPort("http", *httpAddr); err != nil {
		return err
	}
	if err := positiveDuration("idle-timeout", *idle); err != nil {
		return err
	}
	log, err := sf.logger(e)
	if err != nil {
		return err
	}
	reg := e.reg
	hosted, err := hostedKinds(reg, *kindList)
	if err != nil {
		return err
	}
	id := *nodeID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", strings.ToLower(host), bindPort)
	}
	ccfg := consul.DefaultConfig()
	// Task waits, the owner-index watch and membership hold blocking
	// queries while batched writes run beside them; the pooled transport
	// keeps only GOMAXPROCS+1 idle connections, so under load the rest
	// would be closed and dialled again for every request.
	ccfg.Transport.MaxIdleConnsPerHost = 128
	if *consulAddr != "" {
		ccfg.Address = *consulAddr
	}
	return serveNode(log, reg, nodeConfig{
		cluster: *cluster, id: id, bindHost: bindHost, bindPort: bindPort, bind: *bind,
		http: *httpAddr, hosted: hosted, consul: ccfg, drain: sf.drain, retention: sf.retention, idle: *idle, pprof: sf.pprof,
	})
}

type nodeConfig struct {
	cluster, id, bindHost, bind, http string
	bindPort                          int
	hosted                            []string
	consul                            *consul.Config
	drain, retention, idle            time.Duration
	pprof                             bool
}

func splitHostPort(flag, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || host == "" || port <= 0 || port > 65535 {
		return "", 0, usageErr("--%s %q: want HOST:PORT with a concrete host and port", flag, addr)
	}
	return host, port, nil
}

// hostedKinds checks --kinds against the registry.
func hostedKinds(reg *actors.Registry, list string) ([]string, error) {
	all := append(reg.TaskKinds(), reg.GrainKinds()...)
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	known := map[string]bool{}
	for _, k := range all {
		known[k] = true
	}
	var out []string
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if !known[k] {
			return nil, usageErr("--kinds: unknown kind %q (known: %s)", k, strings.Join(all, ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

func serveNode(log *slog.Logger, reg *actors.Registry, cfg nodeConfig) (err error) {
	log = log.With("member", cfg.id)
	ln, err := net.Listen("tcp", cfg.http)
	if err != nil {
		return fmt.Errorf("cannot listen on --http %s: %w", cfg.http, err)
	}
	defer ln.Close()

	sys := tasks.NewActorSystem(log)
	rem := remote.NewRemote(sys, remote.Configure(cfg.bindHost, cfg.bindPort))
	if err := startRemote(rem); err != nil {
		return fmt.Errorf("cannot listen on --bind %s: %w", cfg.bind, err)
	}
	defer rem.Shutdown(true)

	var mem *membership.Membership
	var memMu sync.Mutex
	fenced := func() bool {
		memMu.Lock()
		defer memMu.Unlock()
		return mem == nil || mem.Fenced()
	}
	session := func() string {
		memMu.Lock()
		defer memMu.Unlock()
		if mem == nil {
			return ""
		}
		return mem.Session()
	}
	consulClient, err := consul.NewClient(cfg.consul)
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	var hostedGrains []string
	for _, k := range cfg.hosted {
		if _, err := reg.Grain(k); err == nil {
			hostedGrains = append(hostedGrains, k)
		}
	}
	gcfg := grains.DefaultConfig(cfg.id)
	gcfg.Registry, gcfg.System, gcfg.Kinds, gcfg.Logger = reg, sys, hostedGrains, log
	gcfg.Directory = consuldir.New(consulClient, cfg.cluster, session)
	gcfg.IdleTimeout = cfg.idle
	gcfg.Fenced = fenced
	host, err := grains.New(gcfg)
	if err != nil {
		return err
	}
	if err := host.Start(); err != nil {
		return err
	}

	// Durable tasks: the Consul task store, this member's task manager, and
	// the reconciler that adopts the tasks of members that leave.
	st, err := consulstore.New(consulClient, consulstore.DefaultConfig(cfg.cluster))
	if err != nil {
		return err
	}
	view := func() membership.View {
		memMu.Lock()
		defer memMu.Unlock()
		if mem == nil {
			return membership.View{}
		}
		return mem.View()
	}
	tcfg := tasks.DefaultConfig(cfg.id)
	tcfg.Store, tcfg.Registry, tcfg.System, tcfg.Logger, tcfg.Fenced = st, reg, sys, log, fenced
	tcfg.Retention = cfg.retention
	// Every submit places its task among the live members hosting its kind
	// ("" when none: it stays with the member that took the submit). The
	// members as placement sees them are kept from the last view rather
	// than copied from it per submit.
	var placed atomic.Pointer[[]placement.Member]
	tcfg.Owner = func(kind, id string) string {
		if ms := placed.Load(); ms != nil {
			owner, _ := placement.TaskOwner(*ms, kind, id)
			return owner
		}
		return ""
	}
	// One member sweeps expired tasks: the placement owner of "janitor".
	tcfg.Janitor = func() bool { return janitor(view()) == cfg.id }
	tcfg.Notify = func(owner string, rec store.Record) {
		if m, ok := view().Member(owner); ok {
			sys.Root.Send(actor.NewPID(m.Addr, tasks.RootName(owner)),
				&messages.ActivateTask{Id: rec.Task.GetSpec().GetId(), Task: rec.Task, Revision: rec.Revision, From: cfg.id})
		}
	}
	tcfg.SubmitTo = func(ctx context.Context, owner string, t *messages.Task) (store.Record, bool, error) {
		return submitTo(ctx, sys, view(), cfg.id, owner, t)
	}
	tcfg.Push = func(member string, rec store.Record) {
		if m, ok := view().Member(member); ok {
			sys.Root.Send(actor.NewPID(m.Addr, tasks.RootName(member)), &messages.TaskChanged{Task: rec.Task, Revision: rec.Revision})
		}
	}
	tcfg.Forward = func(ctx context.Context, owner string, c tasks.Control) (bool, error) {
		return forwardControl(ctx, view(), owner, c)
	}
	mgr, err := tasks.New(tcfg)
	if err != nil {
		return err
	}
	if err := mgr.Start(context.Background()); err != nil {
		return err
	}
	rcfg := reconciler.DefaultConfig(cfg.id)
	rcfg.Index, rcfg.Tasks, rcfg.Fenced, rcfg.Logger = st, mgr, fenced, log
	recon := reconciler.New(rcfg)

	hcfg := httpapi.DefaultConfig()
	hcfg.Member, hcfg.Logger, hcfg.Grains, hcfg.Activations = cfg.id, log, host, host.Activations
	hcfg.Health = host.Ping
	hcfg.Members = func(ctx context.Context, activations bool) ([]api.Member, error) {
		memMu.Lock()
		m := mem
		memMu.Unlock()
		if m == nil {
			return nil, errors.New("not joined yet")
		}
		return membersOf(ctx, m.View(), activations), nil
	}
	baseCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{Handler: withPprof(cfg.pprof, httpapi.New(mgr, hcfg)), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return baseCtx }}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	mcfg := membership.DefaultConfig()
	mcfg.Cluster, mcfg.NodeID, mcfg.Addr, mcfg.HTTPAddr, mcfg.Kinds = cfg.cluster, cfg.id, cfg.bind, cfg.http, cfg.hosted
	mcfg.Consul, mcfg.Logger = cfg.consul, log
	mcfg.OnFence = func() {
		log.Warn("self-fenced: lease or session with Consul lost; stopping every grain and task")
		host.Fence()
		mgr.Fence()
	}
	mcfg.OnUnfence = func() {
		log.Info("lease restored; taking activations and tasks again")
		mgr.Resume()
		recon.Kick()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	joinCtx, cancelJoin := context.WithCancel(context.Background())
	go func() {
		select {
		case <-sig:
			cancelJoin()
		case <-joinCtx.Done():
		}
	}()
	log.Info("joining the cluster through Consul", "cluster", cfg.cluster, "consul", cfg.consul.Address, "bind", cfg.bind, "http", cfg.http, "kinds", cfg.hosted)
	m, err := membership.Join(joinCtx, mcfg)
	cancelJoin()
	if err != nil {
		return fmt.Errorf("joining cluster %s: %w", cfg.cluster, err)
	}
	memMu.Lock()
	mem = m
	memMu.Unlock()
	views, stopViews := m.Watch()
	viewsDone := make(chan struct{})
	apply := func(v membership.View) {
		host.SetView(toGrainMembers(v))
		ms := toPlacement(v)
		placed.Store(&ms)
		recon.SetView(ms)
	}
	apply(m.View())
	recon.Start()
	go func() {
		defer close(viewsDone)
		for v := range views {
			apply(v)
		}
	}()
	log.Info("granary node started", "members", len(m.View().Members))
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	select {
	case s := <-sig:
		log.Info("leaving the cluster", "signal", s.String(), "activations", host.Activations())
	case err := <-serveErr:
		return fmt.Errorf("HTTP server: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.drain)
	defer cancel()
	// Hand off: deactivate grains (releasing their claims) so callers find
	// them on the remaining members, then leave Consul, then close the API.
	if err := host.Stop(ctx); err != nil {
		log.Warn("deactivation cut short", "err", err)
	}
	recon.Stop()
	if err := mgr.Stop(ctx); err != nil {
		log.Warn("drain cut short; interrupted attempts resume on other members", "err", err)
	}
	if err := m.Leave(ctx); err != nil {
		log.Warn("leaving Consul failed; the registration expires by itself", "err", err)
	}
	stopViews()
	<-viewsDone
	cancelRequests()
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShut()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("HTTP shutdown", "err", err)
	}
	log.Info("granary node stopped")
	return nil
}

// startRemote starts gRPC remoting, turning its panic on a taken port into
// an error.
func startRemote(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	r.Start()
	return nil
}

func toPlacement(v membership.View) []placement.Member {
	out := make([]placement.Member, 0, len(v.Members))
	for _, m := range v.Members {
		out = append(out, placement.Member{ID: m.ID, Kinds: m.Kinds})
	}
	return out
}

// janitor picks the member that runs retention sweeps.
func janitor(v membership.View) string {
	members := make([]placement.Member, 0, len(v.Members))
	for _, m := range v.Members {
		members = append(members, placement.Member{ID: m.ID, Kinds: []string{"janitor"}})
	}
	id, _ := placement.Owner(members, "janitor", "janitor")
	return id
}

// forwardCancel asks the owning member to cancel the task, so its running
// attempt stops at once; ok is false when the owner is not live.
// submitTo hands a task to the member that owns it, over remoting, to be
// stored claimed and started there; tasks.ErrOwnerUnreachable if it cannot
// be asked.
func submitTo(ctx context.Context, sys *actor.ActorSystem, v membership.View, self, owner string, t *messages.Task) (store.Record, bool, error) {
	m, ok := v.Member(owner)
	if !ok {
		return store.Record{}, false, fmt.Errorf("%w: %s is not in the view", tasks.ErrOwnerUnreachable, owner)
	}
	// Leave half of the caller's time for storing the task here instead.
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)/2 < timeout {
		timeout = time.Until(dl) / 2
	}
	res, err := sys.Root.RequestFuture(actor.NewPID(m.Addr, tasks.RootName(owner)), &messages.SubmitTask{Task: t, From: self}, timeout).Result()
	if err != nil {
		return store.Record{}, false, fmt.Errorf("%w: %w", tasks.ErrOwnerUnreachable, err)
	}
	reply, ok := res.(*messages.SubmitTaskReply)
	if !ok {
		return store.Record{}, false, fmt.Errorf("%w: unexpected answer %T", tasks.ErrOwnerUnreachable, res)
	}
	if reply.GetErrorCode() != "" {
		return store.Record{}, false, api.FromWire(0, api.ErrorBody{Error: api.ErrorDetail{Code: reply.GetErrorCode(), Message: reply.GetError()}})
	}
	return store.Record{Task: reply.GetTask(), Revision: reply.GetRevision()}, reply.GetCreated(), nil
}

// forwardControl sends a cancel or restart to the member that owns the
// task, through its HTTP API; ok false means that member is not live.
func forwardControl(ctx context.Context, v membership.View, owner string, ctl tasks.Control) (bool, error) {
	m, ok := v.Member(owner)
	if !ok || m.HTTPAddr == "" {
		return false, nil
	}
	c, err := client.New(client.Config{Addr: m.HTTPAddr, RetryFor: time.Second})
	if err != nil {
		return false, nil
	}
	if ctl.Op == tasks.OpRestart {
		// A restart without a request id gets one, kept across the
		// client's retries.
		_, err = c.RestartOnce(ctx, ctl.ID, ctl.Reason, cmp.Or(ctl.RequestID, api.NewID()))
	} else {
		_, err = c.CancelWithReason(ctx, ctl.ID, ctl.Reason)
	}
	if err != nil {
		if errors.Is(err, api.ErrUnavailable) {
			return false, nil
		}
		return true, err
	}
	return true, nil
}

func toGrainMembers(v membership.View) []grains.Member {
	out := make([]grains.Member, 0, len(v.Members))
	for _, m := range v.Members {
		out = append(out, grains.Member{ID: m.ID, Addr: m.Addr, Kinds: m.Kinds})
	}
	return out
}

// membersOf lists the healthy members; with activations, it asks each
// for its activation count (a member that does not answer within a second,
// or is not asked, shows -1).
func membersOf(ctx context.Context, view membership.View, activations bool) []api.Member {
	out := make([]api.Member, len(view.Members))
	for i, m := range view.Members {
		out[i] = api.Member{ID: m.ID, Addr: m.Addr, HTTPAddr: m.HTTPAddr, Kinds: m.Kinds, Healthy: true, Activations: -1}
	}
	if !activations {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range view.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.New(client.Config{Addr: m.HTTPAddr, RetryFor: time.Millisecond})
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
