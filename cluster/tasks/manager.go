package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/internal/logevery"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tracing"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Manager is the task manager of one member: it accepts submissions, owns
// the task actors of the tasks it holds, and answers status queries. Its
// actor tree is
//
//	tasks (supervisor: restart a crashed task actor with backoff)
//	└── task actor, one per unfinished task (supervisor of its attempts)
//	    └── attempt, one at a time: the handler's goroutine (attempt.go)
type Manager struct {
	cfg      Config
	store    store.Store
	caps     store.Capabilities // the store's optional abilities, found once in New
	registry *actors.Registry
	member   string
	system   *actor.ActorSystem
	ownSys   bool
	root     *actor.PID
	log      *slog.Logger
	now      func() time.Time
	hooks    Events
	tracer   trace.Tracer // nil: tracing off

	janitorStop chan struct{}
	janitorDone chan struct{}
	jobs        workGroup // job supervision work in flight

	live sync.Map // task id -> *taskContext of the running attempt
	// births hands a task actor what its activation says (task id ->
	// *activate), from the root's spawn to the actor's Started: task
	// actors share one Props (rootActor.taskProps), which cannot carry it.
	births   sync.Map
	creating sync.Map // task id -> struct{}: being created here claimed and running
	holds    holdLearner
	running  atomic.Int64
	metrics  *metrics.Metrics
	owned    ownedCounts
	closing  atomic.Bool
	stopOnce sync.Once
	// commitLog limits the lines of commits waiting for the store.
	commitLog logevery.Limiter

	// abandoned counts attempts whose handler outlived them (abandoned.go).
	abandoned *abandonedAttempts
	// specParts shares the parts of held records' specs that the tasks of
	// a kind have in common (spec_parts.go).
	specParts specParts
}

// New creates a Manager; Start brings it up.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:      cfg,
		store:    cfg.Store,
		caps:     store.CapabilitiesOf(cfg.Store),
		registry: cfg.Registry,
		member:   cfg.Member,
		system:   cfg.System,
		log:      cfg.Logger,
		now:      cfg.Clock,
		hooks:    cfg.Events,
		tracer:   tracing.Tracer(cfg.TracerProvider, "cluster/tasks"),
		metrics:  cfg.Metrics,
	}
	m.commitLog.Period = commitLogEvery
	m.abandoned = newAbandonedAttempts(cfg.Abandoned, cfg.Member)
	cfg.Metrics.ReadOwnedTasks(m.readOwned)
	cfg.Metrics.ReadAbandonedAttempts(m.readAbandoned)
	for _, kind := range cfg.Registry.TaskKinds() {
		cfg.Metrics.Task(kind) // series at 0 from the start, so rate() and increase() see the first events
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.system == nil {
		m.system = NewActorSystem(m.log)
		m.ownSys = true
	}
	return m, nil
}

// NewActorSystem returns an actor system whose own logs go to log, at
// warning level and above: protoactor logs every supervised failure at
// info, which for a task runtime is routine.
func NewActorSystem(log *slog.Logger) *actor.ActorSystem {
	quiet := slog.New(levelFilter{Handler: log.Handler(), min: slog.LevelWarn})
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (l levelFilter) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.Handler.Enabled(ctx, lv)
}

// Start spawns the actor tree and resumes the unfinished tasks this member
// owns (all of them with RecoverAll).
func (m *Manager) Start(ctx context.Context) error {
	strategy, err := supervisor.NewStrategy(supervisor.Spec{
		Strategy: supervisor.OneForOne,
		// A task actor crashes only when the store fails under it; it
		// reloads from the store on restart, so keep restarting it.
		Budget: supervisor.Budget{MaxRestarts: -1},
		// Back off from a failing store: 100ms doubling to 5s.
		Backoff: supervisor.Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: 5 * time.Second, Jitter: supervisor.JitterEqual},
	})
	if err != nil {
		return err
	}
	props := actor.PropsFromProducer(func() actor.Actor { return &rootActor{m: m, children: map[string]*actor.PID{}} },
		actor.WithSupervisor(strategy))
	m.root, err = m.system.Root.SpawnNamed(props, RootName(m.member))
	if err != nil {
		return fmt.Errorf("tasks: spawning the task manager: %w", err)
	}
	f := store.Filter{Owner: m.member}
	if m.cfg.RecoverAll {
		f = store.Filter{Unfinished: true}
	}
	recs, err := m.listToResume(ctx, f)
	if err != nil {
		return err
	}
	for _, r := range recs {
		m.system.Root.Send(m.root, &activate{id: r.Task.GetSpec().GetId(), adopt: m.cfg.RecoverAll})
	}
	if len(recs) > 0 {
		m.log.Info("resuming unfinished tasks", "count", len(recs))
	}
	m.janitorStop, m.janitorDone = make(chan struct{}), make(chan struct{})
	go func() { defer close(m.janitorDone); m.runJanitor(m.janitorStop) }()
	return nil
}

// listToResume lists the tasks Start resumes. A store that cannot be
// reached yet (Consul starting, or down while this member starts) is
// waited for with backoff until ctx ends, saying so in the log: a member
// started before its store joins when the store is back.
func (m *Manager) listToResume(ctx context.Context, f store.Filter) ([]store.Record, error) {
	for try := 1; ; try++ {
		recs, err := m.store.List(ctx, f)
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			if err != nil {
				err = fmt.Errorf("tasks: listing unfinished tasks: %w", err)
			}
			return recs, err
		}
		wait := storeRetry.Delay(try, rand.Float64())
		if try%10 == 1 { // about every 10s once backed off: say it, do not flood
			m.log.Warn("task store unavailable; waiting for it to list this member's tasks", "try", try, "retry_in", wait.String(), "err", err)
		}
		if !supervisor.Sleep(ctx, wait) {
			return nil, fmt.Errorf("tasks: listing unfinished tasks: %w (gave up: %w)", err, ctx.Err())
		}
	}
}

// RootName is the name of a member's task manager actor; other members send
// it *messages.ActivateTask.
func RootName(member string) string { return "tasks-" + member }

// Member is this manager's member id.
func (m *Manager) Member() string { return m.member }

// Submit stores a task and starts it. It is idempotent by id: the same
// submission again returns the stored task with created false; a different
// submission under a taken id is api.ErrAlreadyExists. The task is durable
// when Submit returns.
func (m *Manager) Submit(ctx context.Context, sub Submission) (rec store.Record, created bool, err error) {
	ctx, span := m.traceSubmit(ctx, sub)
	defer func() { endSpan(span, err) }()
	defer func() {
		if created && err == nil {
			m.metrics.Task(sub.Kind).Submitted()
			m.recheckJob(rec.Task)
		}
	}()
	if m.closing.Load() {
		return store.Record{}, false, fmt.Errorf("%w: member %s is shutting down", api.ErrUnavailable, m.member)
	}
	if len(sub.DependsOn) > 0 {
		if sub.DependsOn, err = m.resolveDependencies(ctx, sub.DependsOn); err != nil {
			return store.Record{}, false, err
		}
	}
	fresh := sub.Fresh || sub.ID == "" // an id BuildTask makes is new
	owner := m.member
	if m.cfg.Owner != nil {
		if o := m.cfg.Owner(sub.Kind, sub.ID); o != "" {
			owner = o
		}
	}
	t, err := BuildTask(m.registry, sub, owner, m.now())
	if err != nil {
		return store.Record{}, false, err
	}
	m.stampTrace(ctx, t)
	if err := m.checkJob(ctx, t, sub); err != nil {
		return store.Record{}, false, err
	}
	id := t.GetSpec().GetId()
	switch routeSubmit(owner, m.member, m.fenced(), m.cfg.Peers != nil) {
	case submitOwned:
		return m.createOwned(ctx, t, "", fresh)
	case submitHandOff:
		m.expectPush(id)
		rec, created, err := m.cfg.Peers.SubmitTo(ctx, owner, t, fresh)
		if err == nil {
			m.observe(rec) // the owner's answer may be the finished task
		}
		if handOffFinal(err) {
			return rec, created, err
		}
		// Unreachable, shutting down, fenced, or of another view: store it
		// here, pending, for its owner (or whoever the reconciler picks) to
		// claim. If the owner did store it after all, Create finds it.
		m.log.Debug("owner did not take the task; storing it for the owner to claim", "task", id, "owner", owner, "err", err)
	}
	rec, created, err = m.store.Create(ctx, t)
	if err != nil || !created {
		return m.submitAnswer(t, rec, created, err)
	}
	if owner == m.member {
		pre := rec
		m.system.Root.Send(m.root, &activate{id: id, rec: &pre})
	} else if m.cfg.Peers != nil {
		m.expectPush(id)
		m.cfg.Peers.Notify(owner, rec)
	}
	return rec, true, nil
}

// Activate starts the task actor of id on this member unless it runs
// already. With adopt, the task is claimed even if another member owns it:
// the reconciler adopts the tasks of members that left the cluster.
func (m *Manager) Activate(id string, adopt bool) {
	m.system.Root.Send(m.root, &activate{id: id, adopt: adopt})
}

// activateWritten runs task id here after this member wrote it outside
// its actor (claimed, due): an actor of it still live (one that finished
// it, stopping) is followed by a new one.
func (m *Manager) activateWritten(id string) {
	m.system.Root.Send(m.root, &activate{id: id, written: true})
}

// Adopt starts a task actor for a task read from the store (whose owner left
// the cluster); the actor claims it without reading it again.
func (m *Manager) Adopt(rec store.Record) {
	m.system.Root.Send(m.root, &activate{id: rec.Task.GetSpec().GetId(), adopt: true, rec: &rec})
}

// Fence stops every task actor of this member at once (their attempts are
// cancelled and nothing more is written): the member lost its lease, and
// another member may claim its tasks.
func (m *Manager) Fence() {
	if m.root != nil {
		m.system.Root.Send(m.root, &suspendAll{})
	}
}

// Resume restarts the task actors that Fence stopped, once the member holds
// its lease again; a task another member claimed meanwhile is left to it.
func (m *Manager) Resume() {
	if m.root != nil {
		m.system.Root.Send(m.root, &resume{})
	}
}

func (m *Manager) fenced() bool { return m.cfg.Fenced != nil && m.cfg.Fenced() }

// checkID refuses an id that no task or job can have before it reaches
// the store (where "../x" would read another prefix, or be refused as
// a failure of the store).
func checkID(what, id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %s id %.140q must match %s", api.ErrInvalidArgument, what, id, taskIDPattern)
	}
	return nil
}

// Get returns a task, with the live progress of a running attempt (asked
// of the member running it, unless ctx is LocalOnly).
func (m *Manager) Get(ctx context.Context, id string) (store.Record, error) {
	if err := checkID("task", id); err != nil {
		return store.Record{}, err
	}
	rec, err := m.store.Get(ctx, id)
	if err != nil {
		return store.Record{}, storeErr(err)
	}
	return m.withLiveAnywhere(ctx, rec), nil
}

type localOnlyKey struct{}

// LocalOnly marks ctx so that Get and Wait answer with this member's own
// knowledge of a running attempt's progress, without asking the member
// running it: what members use when they ask each other
// (ProgressReader), and what the API's ?local=1 asks for.
func LocalOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, localOnlyKey{}, true)
}

// liveProgressTimeout bounds asking another member for a running
// attempt's progress: a healthy member answers in a millisecond or two,
// and a caller is better served by the stored status at once than by a
// progress figure after a long wait for a member in trouble.
const liveProgressTimeout = 500 * time.Millisecond

// withLiveAnywhere is withLive, and for an attempt that runs on another
// member, that member's live progress (ProgressReader), if it answers
// within liveProgressTimeout for the attempt the record names.
func (m *Manager) withLiveAnywhere(ctx context.Context, rec store.Record) store.Record {
	rec = m.withLive(rec)
	st := rec.Task.GetStatus()
	owner, id := st.GetOwner(), rec.Task.GetSpec().GetId()
	if st.GetState() != messages.TaskState_TASK_STATE_RUNNING || owner == "" || owner == m.member || ctx.Value(localOnlyKey{}) != nil {
		return rec
	}
	pr, ok := m.cfg.Peers.(ProgressReader)
	if !ok {
		return rec
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), liveProgressTimeout)
	defer cancel()
	attempt, f, note, err := pr.Progress(pctx, owner, id)
	if err != nil || attempt != st.GetAttempts() {
		return rec
	}
	rec.Task = proto.Clone(rec.Task).(*messages.Task)
	rec.Task.Status.Progress, rec.Task.Status.ProgressNote = f, note
	return rec
}

// Wait returns the task once its revision passes after (at once if it
// already has), or its current state when ctx ends first.
func (m *Manager) Wait(ctx context.Context, id string, after uint64) (store.Record, error) {
	if err := checkID("task", id); err != nil {
		return store.Record{}, err
	}
	rec, err := m.store.Watch(ctx, id, after)
	if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		// The wait is over: answer with the current state, read within the
		// store's time bound (the caller's context has ended).
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.StoreTimeout)
		defer cancel()
		return m.Get(gctx, id)
	}
	if err != nil {
		return store.Record{}, storeErr(err)
	}
	return m.withLiveAnywhere(ctx, rec), nil
}

// List returns the tasks in the given states (all when none), by id.
func (m *Manager) List(ctx context.Context, states ...messages.TaskState) ([]store.Record, error) {
	return m.Find(ctx, store.Filter{States: states})
}

// Find returns the tasks f selects, in its order and up to its limit (see
// store.Filter), with the live progress of running attempts. The filters
// go to the store, which applies them as it reads.
func (m *Manager) Find(ctx context.Context, f store.Filter) ([]store.Record, error) {
	if f.JobID != "" {
		if err := checkID("job", f.JobID); err != nil {
			return nil, err
		}
	}
	recs, err := m.store.List(ctx, f)
	if err != nil {
		return nil, storeErr(err)
	}
	for i := range recs {
		recs[i] = m.withLive(recs[i])
	}
	return recs, nil
}

// Stop drains the member: it refuses new submissions, starts no new
// attempts, and waits until running attempts have ended and their outcomes
// are committed (settle), until ctx is done; then it stops the actors.
// Attempts cut off by ctx are handed off: they stay running in the store,
// claimed by this member, and count as lost when the task resumes (on the
// member that adopts it once this one has left, or at the next start).
// Stop is safe to call twice.
func (m *Manager) Stop(ctx context.Context) error {
	var err error
	m.stopOnce.Do(func() {
		m.closing.Store(true)
		if m.root == nil {
			return
		}
		if m.janitorStop != nil { // nil when Start failed before starting it
			close(m.janitorStop)
			<-m.janitorDone
		}
		m.system.Root.Send(m.root, &drain{})
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for m.running.Load() > 0 && err == nil {
			select {
			case <-ctx.Done():
				err = fmt.Errorf("tasks: %d attempts still running at shutdown: %w", m.running.Load(), ctx.Err())
			case <-tick.C:
			}
		}
		if err == nil {
			err = m.settle(ctx)
		}
		// Escalations cancel through the actors: before they stop. Job work
		// that would outlast the drain is cut off (a new owner finishes it
		// from the job's record, as after a crash).
		if !m.jobs.WaitFor(ctx) {
			m.log.Warn("job supervision work cut short by the drain's deadline; the jobs' next owners finish it")
		}
		_ = m.system.Root.PoisonFuture(m.root).Wait()
		if m.ownSys {
			m.system.Shutdown()
		}
	})
	return err
}

// Ping does a round trip through the manager's actor, so a wedged actor
// system fails it even while the process and its HTTP server are alive (the
// "fake-dead" node of classic HA designs).
func (m *Manager) Ping(ctx context.Context) error {
	if m.closing.Load() {
		return fmt.Errorf("member %s is shutting down", m.member)
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if _, err := m.system.Root.RequestFuture(m.root, &ping{}, timeout).Result(); err != nil {
		return fmt.Errorf("actor round trip: %w", err)
	}
	return nil
}

// Running is the number of attempts executing now.
func (m *Manager) Running() int { return int(m.running.Load()) }

func (m *Manager) withLive(rec store.Record) store.Record {
	v, ok := m.live.Load(rec.Task.GetSpec().GetId())
	if !ok || rec.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_RUNNING {
		return rec
	}
	tc := v.(*taskContext)
	if int32(tc.attempt) != rec.Task.GetStatus().GetAttempts() {
		return rec
	}
	f, note := tc.lastProgress()
	rec.Task.Status.Progress, rec.Task.Status.ProgressNote = f, note
	return rec
}

func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return err
}

// errWriteFirst: runFirst did not start the task's attempt ahead of its
// first write (or the root did not start the actor it handed over, one
// being still running); createOwned writes the task first instead.
var errWriteFirst = errors.New("task to be written before it runs")
