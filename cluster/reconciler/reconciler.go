// Package reconciler is the failover half of the task manager: it finds the
// unfinished tasks of members that left the cluster and has the survivors
// adopt them, each taking the share that placement assigns it, and it
// activates the tasks this member owns in the store (submitted elsewhere and
// placed here, or adopted).
//
// Adoption is safe under disagreement: a task actor claims its task with a
// check-and-set that bumps the epoch, so if two survivors both adopt a task,
// one claim wins and the other actor stops. Only members absent from the
// Consul view are adopted from; such a member has fenced itself (its lease
// lapsed) before Consul dropped it.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/supervisor"
)

// Index is what the reconciler reads from the task store.
type Index interface {
	Owners(ctx context.Context) ([]string, error)
	List(ctx context.Context, f store.Filter) ([]store.Record, error)
	WatchOwned(ctx context.Context, owner string, index uint64) ([]string, uint64, error)
}

// Activator starts task actors on this member.
type Activator interface {
	// Activate starts the actor of a task this member owns.
	Activate(id string, adopt bool)
	// Adopt starts the actor of an orphaned task, as read from the store.
	Adopt(rec store.Record)
}

// JobAdopter is an Activator that also runs job supervisors: at each
// search it has this member take the supervisors of the jobs in progress
// whose owner is not among live (and its own, after a restart), so that a
// restart or shutdown left halfway by a member that died is finished.
type JobAdopter interface {
	AdoptJobs(ctx context.Context, live []string) error
}

// Config configures a Reconciler. Member, Index and Tasks are required;
// zero intervals, a zero AdoptInFlight and a zero Retry take
// DefaultConfig's.
type Config struct {
	// Member is this member's id: the owner whose tasks it activates.
	Member string
	// Index reads the task store.
	Index Index
	// Tasks starts task actors on this member.
	Tasks Activator
	// Fenced: while it holds, nothing is activated or adopted.
	Fenced func() bool
	// Sweep is the interval of the periodic search for orphaned tasks, on
	// top of the search at every view change.
	Sweep time.Duration
	// OwnedEvery is the least time between two listings of this member's
	// owner index. Members hint each other of new tasks directly; the
	// listing is the safety net, and each one returns every owned task, so
	// it must not run on every change of a busy index.
	OwnedEvery time.Duration
	// AdoptInFlight bounds the adoptions a sweep has sent and not yet seen
	// claimed (in the owner index); the rest wait their turn, in order.
	AdoptInFlight int
	// ClaimWait is how long an adoption counts as in flight at most: one
	// not claimed by then (lost to another survivor, say) frees its place.
	ClaimWait time.Duration
	// Retry paces retries after store errors.
	Retry  supervisor.Backoff
	Logger *slog.Logger
	// Metrics times each adoption from the view that lost the task's
	// owner (the task actor counts the claims); nil records nothing.
	Metrics *metrics.Metrics
}

// DefaultConfig returns the documented defaults; set Member, Index and
// Tasks.
func DefaultConfig() Config {
	return Config{
		// 10s: view changes trigger a search at once; the sweep only catches
		// orphans whose owner died while no member was watching (the whole
		// cluster restarted), where seconds do not matter.
		Sweep: 10 * time.Second,
		// 1s: a task whose hint was lost starts within a second.
		OwnedEvery: time.Second,
		// 128: each adoption is a claim (one Consul write) and a start of
		// the task's attempt. All of a failover's at once (2,500 per
		// survivor in a 5,000-task failover) slowed Consul and the member
		// so much that lease renewals took up to 2s and both survivors
		// fenced themselves over and over (docs/benchmarks-history.md). 128 still
		// keeps the store's 96 pooled connections busy, so a quiet
		// cluster adopts about as fast as unbounded.
		AdoptInFlight: 128,
		// 5s: a claim takes about a second on a loaded Consul (measured
		// with the renewals above); one stalled longer holds its place no
		// more than 5s.
		ClaimWait: 5 * time.Second,
		// 100ms doubling to 5s with full jitter, like membership's retries:
		// Consul errors are usually a leader election of about a second.
		Retry: supervisor.Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: 5 * time.Second, Jitter: supervisor.JitterFull},
	}
}

// Plan is the pure failover decision: of the orphaned tasks (owned by
// members not in live), the ids that placement assigns to self among the
// live members hosting each task's kind, sorted.
func Plan(self string, live []placement.Member, orphans []store.Record) []string {
	table := placement.NewTable(live)
	alive := map[string]bool{}
	for _, m := range live {
		alive[m.ID] = true
	}
	var out []string
	for _, r := range orphans {
		st := r.Task.GetStatus()
		if store.Terminal(st.GetState()) || alive[st.GetOwner()] {
			continue
		}
		if owner, ok := table.Owner(placement.TaskKind(r.Task.GetSpec().GetKind()), r.Task.GetSpec().GetId()); ok && owner == self {
			out = append(out, r.Task.GetSpec().GetId())
		}
	}
	sort.Strings(out)
	return out
}

// Reconciler runs the two loops.
type Reconciler struct {
	cfg    Config
	log    *slog.Logger
	mu     sync.Mutex
	live   []placement.Member   // with "task:" kinds
	lostAt map[string]time.Time // members that left the view, when; forgotten once back, or after forgetLostAfter
	kick   chan struct{}
	rescan atomic.Bool // forget which owned tasks were activated
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrInvalidConfig is wrapped by the errors of Config.Validate; it wraps
// errs.ErrInvalidConfig.
var ErrInvalidConfig = errs.New("reconciler: invalid configuration", errs.ErrInvalidConfig)

// Validate reports whether c can work, naming the field and its value: a
// member, an index and an activator, and no negative interval (a zero one
// takes its default in New).
func (c Config) Validate() error {
	var errs []error
	if c.Member == "" {
		errs = append(errs, errors.New("Member is empty: the reconciler needs this member's id"))
	}
	if c.Index == nil {
		errs = append(errs, errors.New("Index is nil: the reconciler reads the task store through it"))
	}
	if c.Tasks == nil {
		errs = append(errs, errors.New("Tasks is nil: the reconciler activates tasks through it"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Sweep", c.Sweep}, {"OwnedEvery", c.OwnedEvery}, {"ClaimWait", c.ClaimWait}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is %s: want a positive interval (0: the default)", d.name, d.v))
		}
	}
	if c.AdoptInFlight < 0 {
		errs = append(errs, fmt.Errorf("AdoptInFlight is %d: want a positive bound (0: the default)", c.AdoptInFlight))
	}
	if c.Retry != (supervisor.Backoff{}) {
		if err := c.Retry.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("Retry: %w", err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// New returns a reconciler; Start runs it. Zero intervals, a zero
// AdoptInFlight and a zero Retry take DefaultConfig's; a Config Validate refuses is an error
// wrapping ErrInvalidConfig.
func New(cfg Config) (*Reconciler, error) {
	def := DefaultConfig()
	if cfg.Sweep == 0 {
		cfg.Sweep = def.Sweep // time.NewTicker(0) panics
	}
	if cfg.OwnedEvery == 0 {
		cfg.OwnedEvery = def.OwnedEvery
	}
	if cfg.Retry == (supervisor.Backoff{}) {
		cfg.Retry = def.Retry
	}
	if cfg.AdoptInFlight == 0 {
		cfg.AdoptInFlight = def.AdoptInFlight
	}
	if cfg.ClaimWait == 0 {
		cfg.ClaimWait = def.ClaimWait
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Reconciler{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r, nil
}

// SetView gives the reconciler the live members (with their plain kinds);
// a change triggers a search for orphaned tasks.
func (r *Reconciler) SetView(members []placement.Member) {
	r.mu.Lock()
	live := placement.TaskMembers(members)
	r.noteDepartures(r.live, live, time.Now())
	r.live = live
	r.mu.Unlock()
	r.Kick()
}

// Kick asks for a search for orphans now and for activating every owned
// task again (after unfencing, for instance).
func (r *Reconciler) Kick() {
	r.rescan.Store(true)
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Start runs the loops until Stop.
func (r *Reconciler) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.ownedLoop(ctx) }()
	go func() { defer r.wg.Done(); r.sweepLoop(ctx) }()
}

// Stop ends the loops and waits for them; safe to call twice.
func (r *Reconciler) Stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
}

func (r *Reconciler) fenced() bool { return r.cfg.Fenced != nil && r.cfg.Fenced() }

// ownedLoop activates the tasks this member owns as they appear in the
// owner index (each once: the listing repeats every owned task).
func (r *Reconciler) ownedLoop(ctx context.Context) {
	var index uint64
	known := map[string]bool{}
	forgot := time.Now()
	for try := 1; ctx.Err() == nil; {
		// Now and then activate every owned task again (a no-op for those
		// running here), so a task whose actor stopped without finishing
		// it cannot stay owned with nobody running it.
		if r.rescan.Swap(false) || time.Since(forgot) > reactivateEvery {
			clear(known)
			forgot = time.Now()
		}
		ids, next, err := r.cfg.Index.WatchOwned(ctx, r.cfg.Member, index)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("watching owned tasks", "err", err)
			}
			supervisor.Sleep(ctx, r.cfg.Retry.Delay(try, rand.Float64()))
			try, index = try+1, 0
			continue
		}
		try, index = 1, next
		if r.fenced() {
			index = 0 // look again once unfenced, and activate everything again
			clear(known)
			supervisor.Sleep(ctx, 200*time.Millisecond)
			continue
		}
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			seen[id] = true
			if !known[id] {
				r.cfg.Tasks.Activate(id, false)
			}
		}
		known = seen
		supervisor.Sleep(ctx, r.cfg.OwnedEvery)
	}
}

// reactivateEvery is how often ownedLoop activates every owned task again:
// a backstop that costs one message per owned task.
const reactivateEvery = 30 * time.Second

// sweepLoop adopts orphaned tasks at every view change and periodically.
func (r *Reconciler) sweepLoop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Sweep)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-tick.C:
		}
		if r.fenced() {
			continue
		}
		if err := r.sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("searching for orphaned tasks", "err", err)
			r.Kick()
			supervisor.Sleep(ctx, r.cfg.Retry.Delay(1, rand.Float64()))
		}
	}
}

func (r *Reconciler) sweep(ctx context.Context) error {
	r.mu.Lock()
	live := r.live
	r.mu.Unlock()
	if len(live) == 0 {
		return nil
	}
	alive := map[string]bool{}
	for _, m := range live {
		alive[m.ID] = true
	}
	owners, err := r.cfg.Index.Owners(ctx)
	if err != nil {
		return err
	}
	for _, owner := range owners {
		if alive[owner] {
			continue
		}
		orphans, err := r.cfg.Index.List(ctx, store.Filter{Owner: owner})
		if err != nil {
			return err
		}
		mine := Plan(r.cfg.Member, live, orphans)
		if len(mine) > 0 {
			r.log.Info("adopting tasks of a member that left", "from", owner, "tasks", len(mine), "orphans", len(orphans))
		}
		byID := make(map[string]store.Record, len(orphans))
		for _, rec := range orphans {
			byID[rec.Task.GetSpec().GetId()] = rec
		}
		recs := make([]store.Record, len(mine))
		for i, id := range mine {
			recs[i] = byID[id]
		}
		r.adoptAll(ctx, recs, func() {
			if lostFor, seen := r.lostFor(owner); seen {
				r.cfg.Metrics.AdoptionDelay(lostFor)
			}
		})
	}
	if ja, ok := r.cfg.Tasks.(JobAdopter); ok {
		ids := make([]string, 0, len(live))
		for _, m := range live {
			ids = append(ids, m.ID)
		}
		return ja.AdoptJobs(ctx, ids)
	}
	return nil
}

// noteDepartures records when members of old missing from live left, and
// forgets those back in live. Called with mu held.
func (r *Reconciler) noteDepartures(old, live []placement.Member, now time.Time) {
	if r.cfg.Metrics == nil {
		return
	}
	if r.lostAt == nil {
		r.lostAt = map[string]time.Time{}
	}
	in := make(map[string]bool, len(live))
	for _, m := range live {
		in[m.ID] = true
		delete(r.lostAt, m.ID)
	}
	for _, m := range old {
		if _, known := r.lostAt[m.ID]; !in[m.ID] && !known {
			r.lostAt[m.ID] = now
		}
	}
	// Members that never come back are forgotten after a while: the
	// adoption time of a task found much later says nothing about failover.
	for id, at := range r.lostAt {
		if now.Sub(at) > forgetLostAfter {
			delete(r.lostAt, id)
		}
	}
}

// forgetLostAfter bounds how long a departed member's leaving time is kept.
const forgetLostAfter = 15 * time.Minute

// lostFor is how long ago the view lost member; false if it was not
// seen leaving (it left before this member started, say).
func (r *Reconciler) lostFor(member string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.lostAt[member]; ok {
		return time.Since(at), true
	}
	return 0, false
}
