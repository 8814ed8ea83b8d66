package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
)

// Membership is this node's place in the cluster: its Consul registration,
// the lease it renews, its session, and the view of healthy members. Its
// methods are safe for concurrent use.
type Membership struct {
	cfg         Config
	log         *slog.Logger
	service     string // Consul service name, "granary-"+Cluster
	ttlCheckID  string
	httpCheckID string
	sessionName string

	// consul serves every request. Each carries a context with a deadline
	// (RequestTimeout, or blockingTimeout for blocking queries) rather
	// than relying on an http.Client time-out, which the api package's own
	// client set-up (TLS from CONSUL_CACERT, unix sockets) would not keep.
	consul     *api.Client
	transport  *http.Transport // ours to close on Leave; nil if the caller's
	consulAddr string          // for logs

	ctx    context.Context // ends with Leave (or a failed Join)
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine started through goFunc

	fenceKick chan struct{} // wakes the fence watchdog
	renewKick chan struct{} // wakes the lease loop

	views  *viewHub
	roster *rosterState // the watchers' latest answers, for views
	// publishMu makes each publishMembers a unit: the two watchers each
	// read both answers and publish what they support, and without it the
	// one that read first (without the other's newest answer) could
	// publish last, leaving a stale view until the next change.
	publishMu sync.Mutex

	// lease answers Fenced, Session and CheckLease without m.mu: one atomic
	// load and a clock read. publishLocked replaces it whenever one of its
	// inputs below changes; nil until the first change means fenced.
	lease atomic.Pointer[leaseState]

	mu            sync.Mutex
	lastRenew     time.Time          // send time of the last successful renewal
	registered    bool               // false: the lease loop registers before renewing
	session       string             // the session believed valid; "" if none
	keySession    string             // the session that holds the member key; "" if none
	keyClaimCount uint64             // member-key claims made (keyClaims)
	stopSession   context.CancelFunc // stops the watcher of session
	mustPurge     bool               // sessions of ours may exist in Consul that we do not hold
	fenced        bool               // starts true: a node is fenced until it holds a session
	lapsed        bool               // a renewal came after the lease expired; the watchdog fences on it
	joined        bool               // the first session arrived (Join's goal)
	joinedCh      chan struct{}      // closed when joined turns true
	left          bool               // Leave (or a failed Join) stopped the goroutines
	lastConsulErr error              // for Join's error message
	instance      string             // this process's registration (metaInstance)
	draining      bool               // Drain was called: the member record says so
	fatal         chan error         // a refusal that ends Join (ErrNotAllowed)
	reconnected   chan struct{}      // see consulBack

	leaveMu      sync.Mutex // serialises Leave
	sessionsGone bool       // Leave destroyed our sessions
	deregistered bool       // Leave removed the registration
	leaveLogged  bool       // Leave completed once
}

// Join registers this node in Consul, starts renewing its lease, creates
// its session and follows the healthy members. It returns once the node
// holds a session and sees itself in the view, so Session() is set and
// Fenced() is false when Join returns. The node must already answer
// http://HTTPAddr/healthz (see HealthPath): Consul will not mark it
// healthy, nor grant a session, before that check passes.
//
// If Consul is unreachable or restarting, Join keeps trying, backing off
// with jitter, until ctx ends; it then removes whatever it had registered
// and returns an error wrapping ErrUnavailable. A configuration Validate
// rejects gives an error wrapping ErrInvalidConfig at once.
func Join(ctx context.Context, cfg Config) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMembership(cfg)
	if err != nil {
		return nil, err
	}
	m.log.Info("joining", "consul", m.consulAddr, "service", m.service,
		"addr", cfg.Addr, "http_addr", cfg.HTTPAddr, "kinds", m.cfg.Kinds, "ttl", cfg.TTL)

	if err := m.checkUnique(ctx); err != nil {
		m.cancel()
		if m.transport != nil {
			m.transport.CloseIdleConnections()
		}
		return nil, err
	}
	m.goFunc(m.runLease)
	m.goFunc(m.runFenceWatchdog)
	m.goFunc(m.runViewWatch)
	m.goFunc(m.runRosterWatch)
	if err := m.awaitJoined(ctx); err != nil {
		cleanup, cancel := context.WithTimeout(context.Background(), 2*cfg.RequestTimeout)
		defer cancel()
		if lerr := m.Leave(cleanup); lerr != nil {
			m.log.Warn("cleaning up after a failed join", "err", lerr)
		}
		return nil, err
	}
	m.log.Info("joined", "session", m.Session(), "members", m.View().IDs())
	return m, nil
}

// newMembership builds a Membership that is ready to start its goroutines.
func newMembership(cfg Config) (*Membership, error) {
	cfg.Kinds = slices.Sorted(slices.Values(cfg.Kinds))
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	client, transport, addr, err := newConsulClient(cfg.Consul)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	checkPrefix := "granary:" + cfg.Cluster + ":" + cfg.NodeID
	return &Membership{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "membership", "cluster", cfg.Cluster, "node", cfg.NodeID),
		service:     servicePrefix + cfg.Cluster,
		ttlCheckID:  checkPrefix + ":lease",
		httpCheckID: checkPrefix + ":health",
		sessionName: "granary/" + cfg.Cluster + "/" + cfg.NodeID,
		consul:      client,
		consulAddr:  addr,
		transport:   transport,
		ctx:         ctx,
		cancel:      cancel,
		fenceKick:   make(chan struct{}, 1),
		renewKick:   make(chan struct{}, 1),
		reconnected: make(chan struct{}),
		views:       newViewHub(),
		roster:      newRosterState(),
		mustPurge:   true, // a previous run of this node may have left a session
		fenced:      true,
		joinedCh:    make(chan struct{}),
		instance:    newInstanceID(),
		fatal:       make(chan error, 1),
	}, nil
}

// awaitJoined waits until the node holds its first session and sees itself
// among the healthy members.
func (m *Membership) awaitJoined(ctx context.Context) error {
	views, cancel := m.views.subscribe()
	defer cancel()
	fail := func() error {
		m.mu.Lock()
		last := m.lastConsulErr
		m.mu.Unlock()
		if last != nil {
			return fmt.Errorf("%w: join %s: %w (last consul error: %v)", ErrUnavailable, m.cfg.NodeID, context.Cause(ctx), last)
		}
		return fmt.Errorf("%w: join %s: %w", ErrUnavailable, m.cfg.NodeID, context.Cause(ctx))
	}
	select {
	case <-m.joinedCh:
	case err := <-m.fatal:
		return err
	case <-ctx.Done():
		return fail()
	}
	if _, ok := m.View().Member(m.cfg.NodeID); ok {
		return nil
	}
	for {
		select {
		case v := <-views:
			if _, ok := v.Member(m.cfg.NodeID); ok {
				return nil
			}
		case <-ctx.Done():
			return fail()
		}
	}
}

// View returns the latest view of healthy members. While Consul is
// unreachable it is the last view Consul gave; check Fenced to know
// whether this node may act on it.
func (m *Membership) View() View { return m.views.current() }

// Watch subscribes to view changes. The channel receives the current view
// at once, then every new one. It holds one view: a view the subscriber
// has not taken yet is replaced by the newer one, so a slow subscriber
// skips versions but always ends up with the latest, and never slows the
// watcher. cancel ends the subscription and closes the channel; Leave
// closes every channel. cancel may be called more than once.
func (m *Membership) Watch() (<-chan View, func()) { return m.views.subscribe() }

// Session returns the id of the node's current Consul session, for locks
// that must be released when the node dies (activation locks, singleton
// leadership). It is "" whenever Fenced is true, including after Leave.
// When Consul invalidates a session, or the node fences, the node creates a
// new one once it can, so callers must re-read it and re-acquire their
// locks after OnUnfence.
func (m *Membership) Session() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !leaseValid(m.lease.Load(), m.cfg.Clock(), m.cfg.FenceAfter) {
		return ""
	}
	return m.session
}

// Fenced reports whether the node must not act now: handle a message,
// reply, start or commit work that another member may also be doing. It is
// true while the node is fenced, holds no session or has left, and also as
// soon as the last renewal Consul acknowledged is FenceAfter old by the
// monotonic clock, before the fence watchdog has noticed: after a process
// pause longer than the lease, the first instruction to run sees it. It
// takes no lock and allocates nothing; call it right before each effect.
// Whenever Fenced is false, Session is non-empty.
func (m *Membership) Fenced() bool {
	return !leaseValid(m.lease.Load(), m.cfg.Clock(), m.cfg.FenceAfter)
}

// CheckLease is Fenced with the reason: nil while the node may act, else
// an error wrapping ErrFenced that says why (lease age, no session...).
func (m *Membership) CheckLease() error {
	return checkLease(m.lease.Load(), m.cfg.Clock(), m.cfg.FenceAfter)
}

// Leave takes the node out of the cluster gracefully: it stops the
// membership's goroutines and waits for them, destroys the node's session
// (releasing its locks without lock-delay) and deregisters the service, so
// other members drop the node at once instead of after TTL. It closes every
// Watch channel and does not call OnFence; afterwards Fenced is true.
//
// Leave is idempotent. If a Consul call fails (ctx ended, Consul
// unreachable) Leave returns the error, and a later Leave retries just the
// calls that failed. Whatever it returns, the goroutines have stopped.
func (m *Membership) Leave(ctx context.Context) error {
	m.leaveMu.Lock()
	defer m.leaveMu.Unlock()
	m.stop()

	var errs []error
	if !m.sessionsGone {
		m.releaseMemberKey(ctx)
		if err := m.purgeSessions(ctx); err != nil {
			errs = append(errs, fmt.Errorf("membership: destroy session: %w", err))
		} else {
			m.sessionsGone = true
		}
	}
	if !m.deregistered {
		if err := m.deregister(ctx); err != nil {
			errs = append(errs, fmt.Errorf("membership: deregister: %w", err))
		} else {
			m.deregistered = true
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if !m.leaveLogged {
		m.leaveLogged = true
		if m.transport != nil {
			m.transport.CloseIdleConnections()
		}
		m.log.Info("left")
	}
	return nil
}

// stop ends every goroutine and waits for them. Safe to call twice.
func (m *Membership) stop() {
	m.mu.Lock()
	m.left = true
	m.publishLocked()
	if m.stopSession != nil {
		m.stopSession()
		m.stopSession = nil
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.views.close()
}

// goFunc runs f on a goroutine that stop waits for.
func (m *Membership) goFunc(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// requestContext bounds one non-blocking Consul request.
func (m *Membership) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.ctx, m.cfg.RequestTimeout)
}
