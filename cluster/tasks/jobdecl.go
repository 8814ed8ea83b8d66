package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxJobDepth bounds how deep a job tree goes: a root job is at depth 0,
// its children at 1, down to MaxJobDepth. Stopping, escalating and drawing
// a tree walk it level by level (a store read per level, a recursion per
// level when stopping), and 16 levels is far past any real hierarchy (OTP
// applications rarely nest supervisors more than four or five deep), so
// the bound costs nobody anything and keeps every walk short.
const MaxJobDepth = 16

// JobDeclaration declares a job as a resource (PUT /v1/jobs/{id}): a
// supervisor whose children are its tasks and its child jobs.
type JobDeclaration struct {
	ID string
	// Strategy is one_for_one (if empty), one_for_all or rest_for_one.
	Strategy string
	// MaxRestarts is the restart budget (0: the first child failing for
	// good fails the job), within RestartPeriod (0: the job's life).
	MaxRestarts   int
	RestartPeriod time.Duration
	// Shutdown is how long a terminated child may take to exit (nil:
	// api.DefaultShutdown; 0: abandoned at once, OTP's brutal_kill; at
	// most api.MaxShutdown).
	Shutdown *time.Duration
	// AutoShutdown is never (if empty), any_significant or all_significant.
	AutoShutdown string
	// Parent is the job this one is a child of (empty: a root job); it must
	// exist, not have failed, and not be this job or one of its children.
	Parent string
	// Stage orders the job among its parent's children; Restart is its
	// restart type there (transient if empty); Significant lets its exit
	// shut the parent down. All three need a Parent.
	Stage       int
	Restart     string
	Significant bool
}

// BuildJob checks a declaration and returns the job record it declares,
// every setting in its canonical form (depth 0: the caller places it under
// its parent). Every error wraps api.ErrInvalidArgument and says what is
// wrong; it reads nothing, so the same declaration always gets the same
// answer.
func BuildJob(d JobDeclaration, now time.Time) (*messages.Job, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: job %s: %s", api.ErrInvalidArgument, d.ID, fmt.Sprintf(format, args...))
	}
	if !validID(d.ID) {
		return nil, fmt.Errorf("%w: job id %.140q must match %s", api.ErrInvalidArgument, d.ID, taskIDPattern)
	}
	strategy, err := supervisor.ParseStrategy(cmp.Or(d.Strategy, supervisor.OneForOne.String()))
	if err != nil {
		return nil, invalid("strategy %q: want one_for_one, one_for_all or rest_for_one", d.Strategy)
	}
	if d.MaxRestarts < 0 || d.MaxRestarts > MaxJobRestarts {
		return nil, invalid("max restarts must be between 0 and %d, got %d", MaxJobRestarts, d.MaxRestarts)
	}
	if d.RestartPeriod < 0 {
		return nil, invalid("restart period must not be negative, got %s", d.RestartPeriod)
	}
	if d.RestartPeriod != 0 && d.MaxRestarts == 0 {
		return nil, invalid("a restart period needs max restarts above 0")
	}
	shutdown := api.DefaultShutdown
	if d.Shutdown != nil {
		shutdown = *d.Shutdown
	}
	if shutdown < 0 || shutdown > api.MaxShutdown {
		return nil, invalid("shutdown must be between 0 (abandon at once) and %s, got %s", api.MaxShutdown, shutdown)
	}
	auto, ok := canonical(api.AutoShutdowns, d.AutoShutdown)
	if !ok {
		return nil, invalid("auto_shutdown %q: want %s", d.AutoShutdown, strings.Join(api.AutoShutdowns, ", "))
	}
	restart, err := ParseRestart(d.Restart)
	if err != nil {
		return nil, invalid("%v", err)
	}
	switch {
	case d.Parent == "" && (d.Stage != 0 || d.Restart != "" || d.Significant):
		return nil, invalid("a stage, restart type or significant needs a parent job")
	case d.Parent != "" && !validID(d.Parent):
		return nil, invalid("parent job id %.140q must match %s", d.Parent, taskIDPattern)
	case d.Parent == d.ID:
		return nil, invalid("a job cannot be its own parent")
	case d.Stage < 0 || d.Stage > maxJobStage:
		return nil, invalid("stage must be between 0 and %d, got %d", maxJobStage, d.Stage)
	}
	j := &messages.Job{Id: d.ID, Strategy: strategy.String(), MaxRestarts: int32(d.MaxRestarts), RestartPeriod: jobPeriod(d.RestartPeriod),
		Shutdown: durationpb.New(shutdown), AutoShutdown: auto, Parent: d.Parent, Stage: int32(d.Stage), Significant: d.Significant,
		Declared: true, CreatedAt: timestamppb.New(now), UpdatedAt: timestamppb.New(now)}
	if d.Parent != "" {
		j.Restart = restart
	}
	return j, nil
}

// maxJobStage bounds a stage, a task's as a job's.
const maxJobStage = 1 << 20

// ParseRestart reads a restart type: transient (if empty), temporary or
// permanent, as api.RestartTypes names them.
func ParseRestart(s string) (string, error) {
	if r, ok := canonical(api.RestartTypes, s); ok {
		return r, nil
	}
	return "", fmt.Errorf("restart type %q: want %s", s, strings.Join(api.RestartTypes, ", "))
}

// canonical is s as one of names (the first if s is empty), accepted in
// any case and with '-' for '_', as flags are written.
func canonical(names []string, s string) (string, bool) {
	if s == "" {
		return names[0], true
	}
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	return norm, slices.Contains(names, norm)
}

// declarationDiff says how asked differs from a declared job's record:
// one "field: stored, not asked" per setting.
func declarationDiff(stored, asked *messages.Job) []string {
	diff := budgetDiff(stored, asked)
	add := func(field string, a, b any) {
		if a != b {
			diff = append(diff, fmt.Sprintf("%s: %v, not %v", field, a, b))
		}
	}
	add("shutdown", stored.GetShutdown().AsDuration(), asked.GetShutdown().AsDuration())
	add("auto_shutdown", stored.GetAutoShutdown(), asked.GetAutoShutdown())
	add("parent", cmp.Or(stored.GetParent(), "(none)"), cmp.Or(asked.GetParent(), "(none)"))
	add("stage", stored.GetStage(), asked.GetStage())
	add("restart", stored.GetRestart(), asked.GetRestart())
	add("significant", stored.GetSignificant(), asked.GetSignificant())
	return diff
}

// budgetDiff says how asked's strategy and budget differ from stored's:
// what a job made by its first task fixed, which a declaration must match.
func budgetDiff(stored, asked *messages.Job) []string {
	var diff []string
	if stored.GetStrategy() != asked.GetStrategy() {
		diff = append(diff, fmt.Sprintf("strategy: %s, not %s", stored.GetStrategy(), asked.GetStrategy()))
	}
	if stored.GetMaxRestarts() != asked.GetMaxRestarts() {
		diff = append(diff, fmt.Sprintf("max_restarts: %d, not %d", stored.GetMaxRestarts(), asked.GetMaxRestarts()))
	}
	if a, b := stored.GetRestartPeriod().AsDuration(), asked.GetRestartPeriod().AsDuration(); a != b {
		diff = append(diff, fmt.Sprintf("restart_period: %s, not %s", periodText(a), periodText(b)))
	}
	return diff
}

// DeclareJob declares a job, idempotently: a job that does not exist is
// created (created true); the same declaration of a declared job again
// changes nothing; another declaration of it is api.ErrAlreadyExists,
// saying what differs. A job made by its first task (not declared) is
// declared in place if the declaration keeps its strategy and budget
// (api.ErrAlreadyExists otherwise); its restarts and state stay.
//
// The parent must exist, not have failed or been stopped, and not be the
// job itself or a descendant of it (api.ErrInvalidArgument, each saying
// which); the job's depth (its parent's plus one) must not pass
// MaxJobDepth. The record is written with check-and-set, so two
// declarations at once of one job store one of them and the other is
// answered against it. Bad input stores nothing.
func (m *Manager) DeclareJob(ctx context.Context, d JobDeclaration) (store.JobRecord, bool, error) {
	asked, err := BuildJob(d, m.now())
	if err != nil {
		return store.JobRecord{}, false, err
	}
	for tries := 0; ; tries++ {
		cur, err := m.store.GetJob(ctx, d.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.JobRecord{}, false, storeErr(err)
		}
		next := asked
		if cur.Job != nil {
			if cur.Job.GetDeclared() {
				if diff := declarationDiff(cur.Job, asked); len(diff) > 0 {
					return store.JobRecord{}, false, fmt.Errorf("%w: job %s is declared otherwise (%s); stop it and declare it anew under another id",
						api.ErrAlreadyExists, d.ID, strings.Join(diff, "; "))
				}
				return cur, false, nil
			}
			if next, err = adoptJob(cur.Job, asked); err != nil {
				return store.JobRecord{}, false, err
			}
		}
		if err := m.placeJob(ctx, next); err != nil {
			return store.JobRecord{}, false, err
		}
		if cur.Job != nil && next.GetParent() != "" {
			if err := m.checkNoChildJobs(ctx, d.ID); err != nil {
				return store.JobRecord{}, false, err
			}
		}
		rec, err := m.store.PutJob(ctx, next, cur.Revision)
		if err == nil {
			m.log.Info("job declared", "job", d.ID, "strategy", next.GetStrategy(), "parent", next.GetParent(), "depth", next.GetDepth())
			return m.recheckParent(ctx, rec), cur.Job == nil, nil
		}
		if !errors.Is(err, store.ErrConflict) || tries >= 5 {
			return store.JobRecord{}, false, storeErr(err)
		}
	}
}

// adoptJob is the record of a job made by its first task once declared as
// asked: asked's settings, the job's restarts and state. Its strategy and
// budget cannot change: its tasks run under them.
func adoptJob(cur, asked *messages.Job) (*messages.Job, error) {
	if diff := budgetDiff(cur, asked); len(diff) > 0 {
		return nil, fmt.Errorf("%w: job %s exists, made by its first task, with another strategy or budget (%s); declare it as its tasks run it",
			api.ErrAlreadyExists, cur.GetId(), strings.Join(diff, "; "))
	}
	next := proto.Clone(asked).(*messages.Job)
	next.Restarts, next.Failed, next.Cause = cur.GetRestarts(), cur.GetFailed(), cur.GetCause()
	return next, nil
}

// checkNoChildJobs refuses a parent for a job that already has child jobs:
// their depths were counted from it as a root, so a parent is declared
// before its children.
func (m *Manager) checkNoChildJobs(ctx context.Context, id string) error {
	kids, err := m.childJobs(ctx, id)
	if err != nil {
		return storeErr(err)
	}
	if len(kids) > 0 {
		return fmt.Errorf("%w: job %s already has child jobs (%s); a parent is declared before its children", api.ErrFailedPrecondition, id, kids[0].Job.GetId())
	}
	return nil
}

// placeJob checks j's parent and sets j's depth from it: the parent must
// exist and be running, j must not be among its ancestors (a cycle), and
// the depth must stay within MaxJobDepth.
func (m *Manager) placeJob(ctx context.Context, j *messages.Job) error {
	j.Depth = 0
	if j.GetParent() == "" {
		return nil
	}
	parent, err := m.store.GetJob(ctx, j.GetParent())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: job %s: parent job %s does not exist; declare it first (PUT /v1/jobs/%s)", api.ErrInvalidArgument, j.GetId(), j.GetParent(), j.GetParent())
	}
	if err != nil {
		return storeErr(err)
	}
	// A parent whose children all completed takes new ones (it runs
	// again, as it does for a task joining it); one stopped or failed
	// does not.
	if run := parent.Job.GetRun(); parent.Job.GetFailed() || (run.GetPhase() == supervisor.PhaseDone.String() && run.GetEnd() != supervisor.EndCompleted.String()) {
		why := cmp.Or(run.GetCause(), parent.Job.GetCause(), run.GetEnd())
		return fmt.Errorf("%w: job %s: parent job %s has ended (%s); a child cannot join it", api.ErrInvalidArgument, j.GetId(), j.GetParent(), why)
	}
	if err := m.checkAncestors(ctx, j.GetId(), parent.Job); err != nil {
		return err
	}
	j.Depth = parent.Job.GetDepth() + 1
	if j.Depth > MaxJobDepth {
		return fmt.Errorf("%w: job %s would be at depth %d under %s; job trees are at most %d deep (a root job is at depth 0)",
			api.ErrInvalidArgument, j.GetId(), j.Depth, j.GetParent(), MaxJobDepth)
	}
	return nil
}

// checkAncestors walks up from parent and refuses a cycle: id among the
// ancestors (a job made by its first task may already have children
// declared under it, and one of them cannot become its parent).
func (m *Manager) checkAncestors(ctx context.Context, id string, parent *messages.Job) error {
	path := []string{id, parent.GetId()}
	for up := parent; up.GetParent() != "" && len(path) <= MaxJobDepth+2; {
		path = append(path, up.GetParent())
		if up.GetParent() == id {
			return fmt.Errorf("%w: job %s cannot be a child of %s: it is its ancestor (a cycle: %s)", api.ErrInvalidArgument, id, parent.GetId(), strings.Join(path, " under "))
		}
		next, err := m.store.GetJob(ctx, up.GetParent())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return storeErr(err)
		}
		up = next.Job
	}
	return nil
}

// recheckParent closes the window between placeJob and the child's write:
// a parent stopped or failed meanwhile did not see the child among its
// children. Read after the child is stored, the parent's record shows it
// ended (or its stop's listing found the child): the child is stopped too.
func (m *Manager) recheckParent(ctx context.Context, rec store.JobRecord) store.JobRecord {
	parent := rec.Job.GetParent()
	if parent == "" {
		return rec
	}
	p, err := m.store.GetJob(ctx, parent)
	if err != nil || !p.Job.GetFailed() {
		return rec
	}
	m.log.Info("a job was declared as its parent ended; stopping it", "job", rec.Job.GetId(), "parent", parent)
	stopped, err := m.StopJob(ctx, rec.Job.GetId(), fmt.Sprintf("parent job %s had ended when this job was declared", parent))
	if err != nil {
		m.log.Warn("stopping a job declared under an ended parent failed", "job", rec.Job.GetId(), "err", err)
		return rec
	}
	return stopped
}
