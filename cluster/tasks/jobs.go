package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
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

// A job is the set of tasks sharing a job id, supervised together: the job
// is a supervisor whose children are its tasks. Each task keeps its own
// retry budget; when a task fails for good (its budget spent), the failure
// escalates to the job. While the job's own restart budget lasts
// (job_max_restarts within job_restart_period), the job restarts: the
// failed task starts again with a fresh retry budget, and so do the tasks
// its strategy names:
//
//	one_for_one   only the failed task
//	one_for_all   every unfinished task of the job
//	rest_for_one  the unfinished tasks of later stages (a pipeline)
//
// Completed tasks never run again: their committed result stands. When the
// budget is spent (0 by default), or the failure is one a restart cannot
// mend (a permanent error, the deadline), the job fails with that cause and
// the strategy's tasks are stopped instead of restarted.

// JobSummary is the state of a job, derived from its tasks and its job
// record.
type JobSummary struct {
	Strategy string
	// MaxRestarts and RestartPeriod are the job's restart budget.
	MaxRestarts   int
	RestartPeriod time.Duration
	// Restarts are the job's restarts so far, oldest first.
	Restarts []*messages.JobRestart
	// State is running until every task finished; then completed when all
	// completed, failed when one failed, else cancelled.
	State string
	// Cause is the failure that failed the job.
	Cause  string
	Counts map[string]int
}

// Summarize is the pure job rule over a job's tasks and its record (nil:
// none, as for a job submitted before job records existed).
func Summarize(recs []store.Record, job *messages.Job) JobSummary {
	s := JobSummary{Counts: map[string]int{}}
	var firstFail *messages.Task
	for _, r := range recs {
		t := r.Task
		if s.Strategy == "" {
			s.Strategy = t.GetSpec().GetJobStrategy()
			s.MaxRestarts = int(t.GetSpec().GetJobMaxRestarts())
			s.RestartPeriod = t.GetSpec().GetJobRestartPeriod().AsDuration()
		}
		s.Counts[api.StateName(t.GetStatus().GetState())]++
		if t.GetStatus().GetState() == messages.TaskState_TASK_STATE_FAILED &&
			(firstFail == nil || t.GetStatus().GetFinishedAt().AsTime().Before(firstFail.GetStatus().GetFinishedAt().AsTime())) {
			firstFail = t
		}
	}
	finished := s.Counts[api.StateCompleted] + s.Counts[api.StateFailed] + s.Counts[api.StateCancelled]
	s.Restarts = job.GetRestarts()
	if job != nil {
		s.Strategy, s.MaxRestarts, s.RestartPeriod = job.GetStrategy(), int(job.GetMaxRestarts()), job.GetRestartPeriod().AsDuration()
	}
	switch {
	case job.GetFailed():
		s.State, s.Cause = api.StateFailed, job.GetCause()
	case firstFail != nil:
		s.State = api.StateFailed
		s.Cause = fmt.Sprintf("task %s failed: %s", firstFail.GetSpec().GetId(), firstFail.GetStatus().GetError())
	case finished < len(recs):
		s.State = api.StateRunning
	case s.Counts[api.StateCompleted] == len(recs):
		s.State = api.StateCompleted
	default:
		s.State = api.StateCancelled
	}
	return s
}

// ToStop is the pure strategy rule: the unfinished tasks of a job to stop
// when failed has failed for good, in id order.
func ToStop(job []store.Record, failed *messages.Task) []string {
	strategy, _ := supervisor.ParseStrategy(failed.GetSpec().GetJobStrategy())
	var out []string
	for _, r := range job {
		t := r.Task
		if t.GetSpec().GetId() == failed.GetSpec().GetId() || store.Terminal(t.GetStatus().GetState()) {
			continue
		}
		switch strategy {
		case supervisor.OneForAll:
			out = append(out, t.GetSpec().GetId())
		case supervisor.RestForOne:
			if t.GetSpec().GetJobStage() > failed.GetSpec().GetJobStage() {
				out = append(out, t.GetSpec().GetId())
			}
		}
	}
	sort.Strings(out)
	return out
}

// Job returns a job's tasks and summary; api.ErrNotFound if it has none.
// The tasks are lean (jobTasksLean): a page of them with their results is
// the business of Find.
func (m *Manager) Job(ctx context.Context, id string) ([]store.Record, JobSummary, error) {
	if err := checkID("job", id); err != nil {
		return nil, JobSummary{}, err
	}
	recs, err := jobTasksLean(ctx, m.store, id)
	if err != nil {
		return nil, JobSummary{}, storeErr(err)
	}
	if len(recs) == 0 {
		return nil, JobSummary{}, fmt.Errorf("%w: no task in job %s", api.ErrNotFound, id)
	}
	job, err := m.jobRecord(ctx, id)
	if err != nil {
		return nil, JobSummary{}, err
	}
	return recs, Summarize(recs, job), nil
}

// jobReadChunk is how many records of a job jobTasksLean reads at a time.
const jobReadChunk = 16

// jobTasksLean reads a job's tasks by id, a chunk at a time, keeping each
// without its payload, result and error history: what Summarize needs,
// not what a job of 300 tasks of 175 KB would hold in memory (105 MB a
// read, and eight reads at once took a node to 1.6 GB).
func jobTasksLean(ctx context.Context, s store.Store, id string) ([]store.Record, error) {
	var out []store.Record
	f := store.Filter{JobID: id, Order: store.ByID, Limit: jobReadChunk}
	for {
		recs, err := s.List(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			// The store keeps no reference to what it returns: the
			// record is this call's to trim.
			if sp := r.Task.GetSpec(); sp != nil {
				sp.Payload = nil
			}
			if st := r.Task.GetStatus(); st != nil {
				st.Result, st.Errors = nil, nil
			}
			out = append(out, r)
		}
		if len(recs) < jobReadChunk {
			return out, nil
		}
		at := store.PositionOf(recs[len(recs)-1].Task)
		f.After = &at
	}
}

// jobRecord reads a job's record; nil if it has none.
func (m *Manager) jobRecord(ctx context.Context, id string) (*messages.Job, error) {
	jr, err := m.store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return jr.Job, nil
}

// checkJob refuses a new task for a job that uses another strategy or has
// already failed. A task whose submission named no strategy or no restart
// budget joins with the job's (written into t's spec).
func (m *Manager) checkJob(ctx context.Context, t *messages.Task, sub Submission) error {
	spec := t.GetSpec()
	if spec.GetJobId() == "" {
		return nil
	}
	jr, err := m.ensureJob(ctx, spec)
	if err != nil {
		return err
	}
	job := jr.Job
	if err := JoinJob(job, spec, sub.JobStrategy != "", sub.JobMaxRestarts != 0 || sub.JobRestartPeriod != 0); err != nil {
		return err
	}
	if job.GetFailed() {
		if _, err := m.store.Get(ctx, spec.GetId()); err == nil {
			return nil // a resubmission: Create answers with the stored task
		}
		return fmt.Errorf("%w: job %s has failed (%s)", api.ErrFailedPrecondition, spec.GetJobId(), job.GetCause())
	}
	return nil
}

// recheckJob closes the window between checkJob and the task's creation:
// a job whose failure was recorded meanwhile stopped the tasks its
// escalation listed, and t, not yet stored then, was not among them. Read
// after t is stored, the job's record shows the failure (or the
// escalation's listing shows t): t is then cancelled, as checkJob would
// have refused it.
func (m *Manager) recheckJob(t *messages.Task) {
	job, id := t.GetSpec().GetJobId(), t.GetSpec().GetId()
	if job == "" {
		return
	}
	m.jobWork(func(ctx context.Context) {
		j, err := m.jobRecord(ctx, job)
		if err != nil || !j.GetFailed() {
			return
		}
		m.log.Info("a task joined its job as the job failed; cancelling it", "job", job, "task", id)
		if _, err := m.Cancel(ctx, id, fmt.Sprintf("job %s had failed when this task joined it", job)); err != nil && !errors.Is(err, api.ErrFailedPrecondition) {
			m.log.Warn("cancelling a task of a failed job failed", "job", job, "task", id, "err", err)
		}
	})
}

// JoinJob is the pure rule of a task joining a job: every task of a job
// runs under the job's strategy and restart budget, as its record holds
// them. A task that did not name a strategy (namedStrategy false) or a
// budget (namedBudget false) takes the job's, written into spec; one that
// named another is refused (api.ErrInvalidArgument).
func JoinJob(job *messages.Job, spec *messages.TaskSpec, namedStrategy, namedBudget bool) error {
	if !namedStrategy {
		spec.JobStrategy = job.GetStrategy()
	}
	if !namedBudget {
		spec.JobMaxRestarts, spec.JobRestartPeriod = job.GetMaxRestarts(), nil
		if p := job.GetRestartPeriod(); p != nil {
			spec.JobRestartPeriod = durationpb.New(p.AsDuration())
		}
	}
	if job.GetStrategy() != spec.GetJobStrategy() {
		return fmt.Errorf("%w: job %s uses strategy %s, not %s", api.ErrInvalidArgument, spec.GetJobId(), job.GetStrategy(), spec.GetJobStrategy())
	}
	if job.GetMaxRestarts() != spec.GetJobMaxRestarts() || job.GetRestartPeriod().AsDuration() != spec.GetJobRestartPeriod().AsDuration() {
		return fmt.Errorf("%w: job %s has a restart budget of %d in %s, not %d in %s", api.ErrInvalidArgument, spec.GetJobId(),
			job.GetMaxRestarts(), periodText(job.GetRestartPeriod().AsDuration()), spec.GetJobMaxRestarts(), periodText(spec.GetJobRestartPeriod().AsDuration()))
	}
	return nil
}

// ensureJob returns the record of spec's job, creating it from spec if the
// job has none: the first task of a job sets its strategy and budget, so
// checking a new task costs one read, not a listing of the job.
func (m *Manager) ensureJob(ctx context.Context, spec *messages.TaskSpec) (store.JobRecord, error) {
	for tries := 0; ; tries++ {
		jr, err := m.store.GetJob(ctx, spec.GetJobId())
		if err == nil {
			return jr, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.JobRecord{}, storeErr(err)
		}
		job := &messages.Job{Id: spec.GetJobId(), Strategy: spec.GetJobStrategy(), MaxRestarts: spec.GetJobMaxRestarts(),
			RestartPeriod: spec.GetJobRestartPeriod(), UpdatedAt: timestamppb.New(m.now())}
		jr, err = m.store.PutJob(ctx, job, 0)
		if err == nil {
			return jr, nil
		}
		if !errors.Is(err, store.ErrConflict) || tries >= 3 {
			return store.JobRecord{}, storeErr(err) // a conflict: another submit created it; read it
		}
	}
}

// markJobFailed records in the job's record that the job failed, unless it
// already says so.
func (m *Manager) markJobFailed(ctx context.Context, failed *messages.Task, cause string) error {
	for tries := 0; ; tries++ {
		jr, err := m.ensureJob(ctx, failed.GetSpec())
		if err != nil || jr.Job.GetFailed() {
			return err
		}
		next := proto.Clone(jr.Job).(*messages.Job)
		next.Failed, next.Cause, next.UpdatedAt = true, cause, timestamppb.New(m.now())
		_, err = m.store.PutJob(ctx, next, jr.Revision)
		if err == nil {
			m.metrics.JobFailed(next.GetStrategy())
		}
		if err == nil || !errors.Is(err, store.ErrConflict) || tries >= 5 {
			return err
		}
	}
}

// escalate applies the job strategy after one of its tasks failed for good.
// It runs off the task actor (it reads the job and cancels tasks that may
// live on other members) and is tracked so Stop waits for it.
func (m *Manager) escalate(failed *messages.Task) {
	if failed.GetSpec().GetJobId() == "" {
		return
	}
	m.jobWork(func(ctx context.Context) {
		job := failed.GetSpec().GetJobId()
		cause := fmt.Sprintf("task %s failed: %s", failed.GetSpec().GetId(), failed.GetStatus().GetError())
		if err := m.markJobFailed(ctx, failed, cause); err != nil {
			m.log.Warn("job escalation: recording the job's failure failed", "job", job, "err", err)
		}
		recs, err := m.store.List(ctx, store.Filter{JobID: job})
		if err != nil {
			m.log.Warn("job escalation: listing the job failed", "job", job, "err", err)
			return
		}
		reason := fmt.Sprintf("job %s failed (%s): task %s failed: %s", job, failed.GetSpec().GetJobStrategy(), failed.GetSpec().GetId(), failed.GetStatus().GetError())
		stop := ToStop(recs, failed)
		if len(stop) > 0 {
			m.log.Info("job failed; stopping its other tasks", "job", job, "failed_task", failed.GetSpec().GetId(), "stopping", len(stop))
		}
		for _, id := range stop {
			if _, err := m.Cancel(ctx, id, reason); err != nil && !errors.Is(err, api.ErrFailedPrecondition) {
				m.log.Warn("job escalation: cancelling a task failed", "job", job, "task", id, "err", err)
			}
		}
	})
}

func periodText(d time.Duration) string {
	if d == 0 {
		return "the job's life"
	}
	return d.String()
}

// JobPlan is the job supervisor's decision after one of its tasks failed
// for good.
type JobPlan struct {
	// Restart: the job restarts Targets (the failed task among them, the
	// rest in start order). Otherwise the job fails with Cause.
	Restart bool
	Targets []string
	Cause   string
	// Job is the job record to write with check-and-set before acting on
	// the plan (nil: nothing to write).
	Job *messages.Job
}

// restartable reports whether a failure is one a job restart may mend: not
// a permanent error, the deadline, or a cancellation.
func restartable(f supervisor.Failure) bool {
	return !supervisor.IsPermanent(f.Err) && f.Cause != supervisor.CauseDeadline && f.Cause != supervisor.CauseCancelled
}

// PlanJob is the pure job supervisor. job is the job's record (nil: it has
// none yet), tasks the job's tasks as stored, failed the task that failed
// for good with its last failure f. The job is a supervision tree whose
// children are its unfinished tasks in stage and id order; its budget and
// strategy come from the failed task's spec.
func PlanJob(job *messages.Job, tasks []store.Record, failed *messages.Task, f supervisor.Failure, now time.Time) JobPlan {
	spec := failed.GetSpec()
	what := fmt.Sprintf("task %s failed: %s", spec.GetId(), describe(f))
	if job.GetFailed() {
		return JobPlan{Cause: job.GetCause()}
	}
	for _, r := range tasks {
		if r.Task.GetSpec().GetId() != spec.GetId() && r.Task.GetStatus().GetState() == messages.TaskState_TASK_STATE_FAILED {
			return JobPlan{Cause: fmt.Sprintf("job %s had already failed (task %s failed); %s", spec.GetJobId(), r.Task.GetSpec().GetId(), what)}
		}
	}
	if spec.GetJobMaxRestarts() <= 0 {
		return JobPlan{Cause: what}
	}
	next := &messages.Job{Id: spec.GetJobId(), Strategy: spec.GetJobStrategy(), MaxRestarts: spec.GetJobMaxRestarts(), RestartPeriod: spec.GetJobRestartPeriod()}
	if job != nil {
		next = proto.Clone(job).(*messages.Job)
	}
	next.UpdatedAt = timestamppb.New(now)
	if !restartable(f) {
		next.Failed, next.Cause = true, what+" (a restart cannot mend it)"
		return JobPlan{Cause: next.Cause, Job: next}
	}
	strategy, _ := supervisor.ParseStrategy(spec.GetJobStrategy())
	children := jobChildren(tasks, failed)
	tree, err := supervisor.NewTree(supervisor.Spec{
		Strategy: strategy,
		Budget:   supervisor.Budget{MaxRestarts: int(spec.GetJobMaxRestarts()), Period: spec.GetJobRestartPeriod().AsDuration()},
		// Every failure that reaches the job already passed restartable.
		Decider: func(supervisor.Failure) supervisor.Directive { return supervisor.Restart },
	}, children...)
	if err != nil {
		next.Failed, next.Cause = true, fmt.Sprintf("%s; job supervisor: %v", what, err)
		return JobPlan{Cause: next.Cause, Job: next}
	}
	for _, r := range tasks {
		if id := r.Task.GetSpec().GetId(); id != spec.GetId() && store.Terminal(r.Task.GetStatus().GetState()) {
			tree.Exited(id, now) // finished children are not restarted
		}
	}
	for _, r := range next.GetRestarts() {
		tree.Replay(spec.GetId(), r.GetAt().AsTime())
	}
	d := tree.Failed(spec.GetId(), f, now, 0)
	if d.Directive != supervisor.Restart {
		// The tree appends the failure, which what already names.
		reason, _, _ := strings.Cut(d.Reason, "; last failure:")
		next.Failed, next.Cause = true, fmt.Sprintf("%s; job %s gave up: %s", what, spec.GetJobId(), strings.Replace(reason, "supervisor's", "job's", 1))
		return JobPlan{Cause: next.Cause, Job: next}
	}
	next.Restarts = append(next.Restarts, &messages.JobRestart{At: timestamppb.New(now), Task: spec.GetId(), Error: describe(f)})
	targets := []string{spec.GetId()}
	for _, id := range d.Targets {
		if id == spec.GetId() {
			continue
		}
		// A pipeline restarts the stages after the failed one; tasks of the
		// same stage run side by side and are left alone.
		if strategy == supervisor.RestForOne && stageOf(tasks, id) <= spec.GetJobStage() {
			continue
		}
		targets = append(targets, id)
	}
	return JobPlan{Restart: true, Targets: targets, Job: next}
}

// jobChildren are the job's tasks as children of its supervisor, in start
// order: by stage, then id. The failed task is among them even if the
// listing missed it.
func jobChildren(tasks []store.Record, failed *messages.Task) []supervisor.Child {
	type child struct {
		id    string
		stage int32
	}
	var cs []child
	seen := false
	for _, r := range tasks {
		id := r.Task.GetSpec().GetId()
		seen = seen || id == failed.GetSpec().GetId()
		cs = append(cs, child{id, r.Task.GetSpec().GetJobStage()})
	}
	if !seen {
		cs = append(cs, child{failed.GetSpec().GetId(), failed.GetSpec().GetJobStage()})
	}
	slices.SortFunc(cs, func(a, b child) int { return cmp.Or(cmp.Compare(a.stage, b.stage), cmp.Compare(a.id, b.id)) })
	out := make([]supervisor.Child, len(cs))
	for i, c := range cs {
		out[i] = supervisor.Child{ID: c.id, Restart: supervisor.Transient}
	}
	return out
}

func stageOf(tasks []store.Record, id string) int32 {
	for _, r := range tasks {
		if r.Task.GetSpec().GetId() == id {
			return r.Task.GetSpec().GetJobStage()
		}
	}
	return 0
}

// superviseJob asks the job supervisor what to do about failed, which
// failed for good with f, and records the decision in the job record
// (check-and-set: two tasks failing at once each get their own decision,
// both counted against the budget).
func (m *Manager) superviseJob(ctx context.Context, failed *messages.Task, f supervisor.Failure) (JobPlan, error) {
	job := failed.GetSpec().GetJobId()
	for tries := 0; ; tries++ {
		var rec *messages.Job
		var rev uint64
		jr, err := m.store.GetJob(ctx, job)
		switch {
		case err == nil:
			rec, rev = jr.Job, jr.Revision
		case !errors.Is(err, store.ErrNotFound):
			return JobPlan{}, err
		}
		tasks, err := m.store.List(ctx, store.Filter{JobID: job})
		if err != nil {
			return JobPlan{}, err
		}
		plan := PlanJob(rec, tasks, failed, f, m.now())
		if plan.Job == nil {
			return plan, nil
		}
		_, err = m.store.PutJob(ctx, plan.Job, rev)
		if err == nil {
			if plan.Restart {
				m.metrics.JobRestarted(plan.Job.GetStrategy())
			} else if plan.Job.GetFailed() && !rec.GetFailed() {
				m.metrics.JobFailed(plan.Job.GetStrategy())
			}
			return plan, nil
		}
		if !errors.Is(err, store.ErrConflict) || tries >= 5 {
			return JobPlan{}, err
		}
	}
}

// restartSiblings restarts the tasks a job restart names, on whichever
// member owns them. It runs off the task actor and is tracked so Stop waits
// for it.
func (m *Manager) restartSiblings(job string, ids []string, reason string) {
	if len(ids) == 0 {
		return
	}
	m.jobWork(func(ctx context.Context) {
		m.log.Info("job restarting tasks", "job", job, "tasks", len(ids), "reason", reason)
		// One request id for this job restart: a restart forwarded again
		// after a lost answer does not restart a task twice.
		req := api.NewID()
		for _, id := range ids {
			if _, err := m.Restart(ctx, id, reason, req); err != nil && !errors.Is(err, api.ErrFailedPrecondition) {
				m.log.Warn("job restart: restarting a task failed", "job", job, "task", id, "err", err)
			}
		}
	})
}

// jobWork runs job supervision work off the task actors (it reads the job
// and controls tasks that may live on other members), bounded in time and
// tracked so Stop waits for it.
func (m *Manager) jobWork(fn func(ctx context.Context)) {
	m.jobs.Add(1)
	go func() {
		defer m.jobs.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 3*m.cfg.StoreTimeout)
		defer cancel()
		fn(ctx)
	}()
}
