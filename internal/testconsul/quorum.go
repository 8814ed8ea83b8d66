package testconsul

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Quorum is Consul as its operators run it: servers in a Raft quorum
// (three by default) and a client agent per application host, which the
// applications on that host talk to. Each agent listens on an address of
// its own in 127.0.0.0/8, so a test can tell them apart in logs and
// in Consul's own answers (the leader's address). Every agent stops when
// the test ends, pass or fail.
//
//	q := testconsul.StartQuorum(t, testconsul.QuorumOptions{})
//	local := q.AddClient(t)          // one per member; the member uses local.HTTPAddr()
//	leader := q.WaitLeader(t, 30*time.Second)
//	leader.Kill()                    // a new leader is elected in about 2s
//	paused := q.PauseServers(2)      // no quorum: writes fail until ResumeAll
//	q.ResumeAll()
type Quorum struct {
	bin     string
	opts    QuorumOptions
	Servers []*Agent

	mu      sync.Mutex
	clients []*Agent
}

// QuorumOptions configure StartQuorum. The zero value is three servers.
type QuorumOptions struct {
	// Servers is the size of the Raft quorum: 3 or 5, as Consul's
	// deployment guide says. Default 3.
	Servers int
	// StartTimeout bounds the wait for each agent to be ready.
	// Default: 60s (see defaultStartTimeout).
	StartTimeout time.Duration
}

// quorumRole is what an agent of a Quorum needs beyond Options: whether it
// is a server, whom it joins, and which addresses may lead.
type quorumRole struct {
	server  bool
	expect  int
	join    []string // the servers' Serf LAN addresses
	servers []string // the servers' RPC addresses, one of which leads
}

func (r *quorumRole) args(dataDir string) []string {
	args := []string{"-data-dir=" + dataDir}
	if r.server {
		args = append(args, "-server", "-bootstrap-expect="+strconv.Itoa(r.expect))
	}
	for _, j := range r.join {
		args = append(args, "-retry-join="+j)
	}
	// A second between join attempts: the servers start together, and a
	// client joins servers that are already up.
	return append(args, "-retry-interval=1s")
}

func (r *quorumRole) isServer(addr string) bool {
	for _, s := range r.servers {
		if s == addr {
			return true
		}
	}
	return false
}

var errBadQuorum = errors.New("testconsul: invalid quorum options")

func (o QuorumOptions) withDefaults() (QuorumOptions, error) {
	switch {
	case o.Servers == 0:
		o.Servers = 3
	case o.Servers < 3 || o.Servers%2 == 0:
		return o, fmt.Errorf("%w: %d servers; a quorum that survives a loss has an odd number of at least 3", errBadQuorum, o.Servers)
	}
	if o.StartTimeout < 0 {
		return o, fmt.Errorf("%w: negative StartTimeout %v", errBadQuorum, o.StartTimeout)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = defaultStartTimeout
	}
	return o, nil
}

// StartQuorum starts opts.Servers Consul servers that form one quorum, and
// waits until each has a leader and accepts KV writes. Without a consul
// binary it fails the test, or skips it under -short.
func StartQuorum(t testing.TB, opts QuorumOptions) *Quorum {
	t.Helper()
	bin := requireBinary(t)
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	q := &Quorum{bin: bin, opts: opts}
	role := &quorumRole{server: true, expect: opts.Servers}
	for range opts.Servers {
		a := q.newMember(t, role)
		role.join = append(role.join, net.JoinHostPort(a.opts.BindAddr, strconv.Itoa(a.ports.serfLAN)))
		role.servers = append(role.servers, a.ServerAddr())
		q.Servers = append(q.Servers, a)
	}
	// The servers elect a leader only once bootstrap-expect of them have
	// met, so they start together.
	began := time.Now()
	errs := make([]error, len(q.Servers))
	var wg sync.WaitGroup
	for i, a := range q.Servers {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = a.start() }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			q.Servers[i].fatalWithTail(t, fmt.Errorf("quorum server %d: %w", i+1, err))
		}
	}
	t.Logf("testconsul: quorum of %d servers ready in %v", len(q.Servers), time.Since(began).Round(time.Millisecond))
	return q
}

// newMember prepares an agent of the quorum on a fresh loopback address.
func (q *Quorum) newMember(t testing.TB, role *quorumRole) *Agent {
	t.Helper()
	opts, err := Options{Mode: Server, BindAddr: loopbackAddr(t), StartTimeout: q.opts.StartTimeout}.withDefaults(t)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, q.bin, opts)
	a.role = role
	ports, err := pickPorts(opts.BindAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.setPorts(ports); err != nil {
		t.Fatal(err)
	}
	return a
}

// AddClient starts a client agent that joins the quorum, as the agent on
// a member's host, and waits until it reaches the leader.
func (q *Quorum) AddClient(t testing.TB) *Agent {
	t.Helper()
	lead := q.Servers[0].role
	role := &quorumRole{join: lead.join, servers: lead.servers}
	a := q.newMember(t, role)
	began := time.Now()
	if err := a.start(); err != nil {
		a.fatalWithTail(t, fmt.Errorf("client agent: %w", err))
	}
	t.Logf("testconsul: client agent %s ready at %s in %v", a.node, a.HTTPAddr(), time.Since(began).Round(time.Millisecond))
	q.mu.Lock()
	q.clients = append(q.clients, a)
	q.mu.Unlock()
	return a
}

// Leader is the server that leads now, as the first server that answers
// says; an error when none answers or none has a leader.
func (q *Quorum) Leader(ctx context.Context) (*Agent, error) {
	var last error = errors.New("no server answered")
	for _, a := range q.Servers {
		if a.Paused() || !a.Running() {
			continue
		}
		leader, err := a.leader(ctx)
		if err != nil {
			last = err
			continue
		}
		last = fmt.Errorf("leader %q is none of the quorum's servers", leader)
		for _, s := range q.Servers {
			switch {
			case s.ServerAddr() != leader:
			case !s.Running():
				// The followers still name a killed leader until they
				// notice it has stopped answering.
				last = fmt.Errorf("leader %s has stopped and is not replaced yet", leader)
			default:
				return s, nil
			}
		}
	}
	return nil, last
}

// WaitLeader polls until the quorum has a leader, and fails the test if it
// has none within timeout.
func (q *Quorum) WaitLeader(t testing.TB, timeout time.Duration) *Agent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		a, err := q.Leader(ctx)
		cancel()
		if err == nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("testconsul: no leader within %v: %v", timeout, err)
		}
		time.Sleep(readyPollInterval)
	}
}

// Followers are the running servers other than leader.
func (q *Quorum) Followers(leader *Agent) []*Agent {
	var out []*Agent
	for _, a := range q.Servers {
		if a != leader && a.Running() {
			out = append(out, a)
		}
	}
	return out
}

// PauseServers stops n servers with SIGSTOP (the leader among them, if it
// runs, so the quorum loses it) and returns them. Pausing a majority takes
// the quorum away: Consul answers writes and consistent reads with errors
// until ResumeAll.
func (q *Quorum) PauseServers(n int) []*Agent {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	leader, _ := q.Leader(ctx)
	cancel()
	var out []*Agent
	if leader != nil {
		out = append(out, leader)
	}
	for _, a := range q.Servers {
		if len(out) >= n {
			break
		}
		if a != leader && a.Running() && !a.Paused() {
			out = append(out, a)
		}
	}
	for _, a := range out {
		a.Pause()
	}
	return out
}

// ResumeAll continues every paused agent of the quorum.
func (q *Quorum) ResumeAll() {
	q.mu.Lock()
	all := append(append([]*Agent(nil), q.Servers...), q.clients...)
	q.mu.Unlock()
	for _, a := range all {
		a.Resume()
	}
}

// Pause stops the agent with SIGSTOP, as a host that froze would: its
// connections stay open but nothing answers. Resume continues it; Stop,
// Kill and the test's cleanup continue it too.
func (a *Agent) Pause() { a.setPaused(true) }

// Resume continues an agent that Pause stopped; otherwise it does nothing.
func (a *Agent) Resume() { a.setPaused(false) }

func (a *Agent) setPaused(paused bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil || a.paused == paused || exited(a.proc) {
		return
	}
	sig := syscall.SIGCONT
	if paused {
		sig = syscall.SIGSTOP
	}
	if err := a.proc.cmd.Process.Signal(sig); err == nil {
		a.paused = paused
	}
}

// Paused reports whether Pause stopped the agent and nothing continued it.
func (a *Agent) Paused() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.paused
}

// Running reports whether the agent's latest process has not exited.
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proc != nil && !exited(a.proc)
}

func exited(p *process) bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// leader asks the agent which server leads, "" for none.
func (a *Agent) leader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return a.client.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
}

// loopbackAddr picks an address of 127.0.0.0/8 other than 127.0.0.1 that
// can be bound, so the agents of a quorum each have their own and none
// competes for ports with the many tests that use 127.0.0.1.
func loopbackAddr(t testing.TB) string {
	t.Helper()
	var err error
	for range 10 {
		ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
		var l net.Listener
		if l, err = net.Listen("tcp", ip+":0"); err == nil {
			l.Close()
			return ip
		}
	}
	t.Fatalf("testconsul: no usable loopback address: %v", err)
	return ""
}
