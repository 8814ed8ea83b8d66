package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/membership"
)

// ErrPeersUnreachable: this member's remoting reaches none of its peers,
// while Consul and the peers' own checks say they are healthy. /healthz
// fails with it (wrapped, naming the peers and the errors), so Consul
// marks the member critical, placement stops choosing it and its session
// ends (it fences itself, and its work moves to the members that reach
// each other). Typical causes: its cluster certificate expired or is of
// another CA, or a firewall cuts its remoting port while Consul still
// reaches its HTTP check.
var ErrPeersUnreachable = errors.New("node: this member's remoting reaches none of its peers")

// PeerProbeConfig configures the probe of the peers' remoting: every
// Interval, a round trip (protoactor's Touch, answered by the peer's grain
// router without running any of its code) to each member of the view.
type PeerProbeConfig struct {
	// Interval between rounds of probes.
	Interval time.Duration
	// Timeout bounds one probe; at most UnreachableAfter.
	Timeout time.Duration
	// UnreachableAfter: a peer not reached for this long (or since it
	// appeared in the view) counts as unreachable. When every peer of a
	// member with two peers or more is, the member is cut off: its
	// /healthz fails with ErrPeersUnreachable.
	UnreachableAfter time.Duration
}

// DefaultPeerProbeConfig returns the probe's defaults.
func DefaultPeerProbeConfig() PeerProbeConfig {
	return PeerProbeConfig{
		// 1s: Consul's HTTP check interval (membership's default), so the
		// verdict /healthz reads is no staler than the check; a round costs
		// one small message per peer.
		Interval: time.Second,
		// 2s: a peer answers a Touch in milliseconds on a LAN; 2s rides out
		// a GC pause or a TLS handshake on a loaded host.
		Timeout: 2 * time.Second,
		// 10s: ten rounds, past gRPC's first reconnect backoffs and a
		// peer's brief stall, so a blip never fences a member; yet a member
		// that cannot serve its grains stops being chosen within about 11s
		// (this bound plus Consul's check interval), where its callers
		// would otherwise time out for as long as it runs.
		UnreachableAfter: 10 * time.Second,
	}
}

// Validate reports a probe configuration that cannot work.
func (c PeerProbeConfig) Validate() error {
	if c.Interval <= 0 || c.Timeout <= 0 || c.UnreachableAfter <= 0 {
		return fmt.Errorf("PeerProbe: Interval, Timeout and UnreachableAfter must be positive, got %s, %s, %s", c.Interval, c.Timeout, c.UnreachableAfter)
	}
	if c.Timeout > c.UnreachableAfter {
		return fmt.Errorf("PeerProbe: Timeout %s must not exceed UnreachableAfter %s", c.Timeout, c.UnreachableAfter)
	}
	return nil
}

// peerReach is the pure decision of whether this member is cut off from
// its peers, from the probes' outcomes and an injected clock. Not safe
// for concurrent use (the probe goroutine owns it).
//
// The member is cut off when it has at least two peers and has reached
// none of them within UnreachableAfter. One unreachable peer among
// reachable ones is that peer's problem (its own probe fails it). A member
// alone, or with one peer, is never cut off: between two members a broken
// link cannot be pinned on either, and failing both would stop the whole
// cluster (both log the unreachable peer instead).
type peerReach struct {
	after time.Duration
	peers map[string]*peerSeen
}

// peerSeen is what the probes know of one peer.
type peerSeen struct {
	addr  string
	since time.Time // the last reply, or when the peer appeared
	err   error     // the last probe's failure; nil after a reply
}

func newPeerReach(after time.Duration) *peerReach {
	return &peerReach{after: after, peers: map[string]*peerSeen{}}
}

// track sets the peers: the members of the view other than self that are
// not draining (a draining peer stops its router before it leaves the
// view). A peer new to the set gets the full bound from now.
func (r *peerReach) track(v membership.View, self string, now time.Time) {
	keep := make(map[string]*peerSeen, len(v.Members))
	for _, m := range v.Members {
		if m.ID == self || m.Draining {
			continue
		}
		p, ok := r.peers[m.ID]
		if !ok || p.addr != m.Addr {
			p = &peerSeen{addr: m.Addr, since: now}
		}
		keep[m.ID] = p
	}
	r.peers = keep
}

// record notes one probe's outcome.
func (r *peerReach) record(id string, err error, now time.Time) {
	p, ok := r.peers[id]
	if !ok {
		return
	}
	p.err = err
	if err == nil {
		p.since = now
	}
}

// unreachable lists the peers not reached within the bound, sorted, each
// as "id at addr: error".
func (r *peerReach) unreachable(now time.Time) []string {
	var out []string
	for id, p := range r.peers {
		if p.err != nil && now.Sub(p.since) > r.after {
			out = append(out, fmt.Sprintf("%s at %s: %v", id, p.addr, p.err))
		}
	}
	slices.Sort(out)
	return out
}

// verdict is nil while the member counts as reaching its peers, else
// ErrPeersUnreachable naming them and their errors.
func (r *peerReach) verdict(now time.Time) error {
	down := r.unreachable(now)
	if len(r.peers) < 2 || len(down) < len(r.peers) {
		return nil
	}
	return fmt.Errorf("%w for more than %s (%s): check this member's cluster certificate (expired, or of another CA than the peers') and firewalls on its remoting port",
		ErrPeersUnreachable, r.after, strings.Join(down, "; "))
}

// peerProbe probes the peers' remoting in the background and keeps the
// latest verdict for /healthz, which must answer at once.
type peerProbe struct {
	n      *Node
	cfg    PeerProbeConfig
	reach  *peerReach
	err    atomic.Pointer[error] // the latest verdict; nil pointer: healthy
	logged map[string]bool       // peers logged unreachable (probe goroutine)
	cancel context.CancelFunc
	done   chan struct{}
}

// startPeerProbe starts probing the peers of n's view every cfg.Interval.
func startPeerProbe(n *Node, cfg PeerProbeConfig) *peerProbe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &peerProbe{n: n, cfg: cfg, reach: newPeerReach(cfg.UnreachableAfter), logged: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go p.run(ctx)
	return p
}

// verdict is the latest verdict: nil, or ErrPeersUnreachable wrapped.
func (p *peerProbe) verdict() error {
	if p == nil {
		return nil
	}
	if e := p.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (p *peerProbe) stop() {
	p.cancel()
	<-p.done
}

func (p *peerProbe) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		p.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// round probes every peer at once, then decides and logs transitions.
func (p *peerProbe) round(ctx context.Context) {
	p.reach.track(p.n.view(), p.n.id, time.Now())
	type outcome struct {
		id  string
		err error
	}
	results := make(chan outcome, len(p.reach.peers))
	var wg sync.WaitGroup
	for id, seen := range p.reach.peers {
		wg.Add(1)
		go func() { defer wg.Done(); results <- outcome{id, p.touch(ctx, id, seen.addr)} }()
	}
	wg.Wait()
	close(results)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	for o := range results {
		p.reach.record(o.id, o.err, now)
	}
	p.decide(now)
}

// touch is one round trip through remoting to the peer's grain router.
func (p *peerProbe) touch(ctx context.Context, id, addr string) error {
	f := p.n.sys.Root.RequestFuture(actor.NewPID(addr, grains.RouterName(id)), &actor.Touch{}, p.cfg.Timeout)
	done := make(chan struct{})
	var res any
	var err error
	go func() { defer close(done); res, err = f.Result() }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
	}
	switch {
	case err != nil:
		return fmt.Errorf("no answer within %s: %w", p.cfg.Timeout, err)
	case res == nil:
		return errors.New("empty answer")
	}
	if _, ok := res.(*actor.Touched); !ok {
		// A dead letter: the link is down (remoting answers it locally)
		// or the peer has no router (it is leaving).
		return fmt.Errorf("answered %T", res)
	}
	return nil
}

// decide stores the verdict and logs each transition once: a peer
// becoming unreachable or reachable again, and this member becoming cut
// off or not.
func (p *peerProbe) decide(now time.Time) {
	down := map[string]bool{}
	for _, line := range p.reach.unreachable(now) {
		id, _, _ := strings.Cut(line, " at ")
		down[id] = true
		if !p.logged[id] {
			p.n.log.Warn("a peer's remoting is unreachable; grain calls and tasks placed on it time out", "peer", line, "for_more_than", p.cfg.UnreachableAfter)
		}
	}
	for id := range p.logged {
		if !down[id] {
			p.n.log.Info("a peer's remoting answers again (or the peer left)", "peer", id)
		}
	}
	p.logged = down
	err := p.reach.verdict(now)
	was := p.verdict()
	switch {
	case err != nil && was == nil:
		p.n.log.Warn("unhealthy: this member reaches none of its peers; /healthz fails until it does", "err", err)
	case err == nil && was != nil:
		p.n.log.Info("healthy again: this member reaches its peers")
	}
	if err == nil {
		p.err.Store(nil)
	} else {
		p.err.Store(&err)
	}
}
