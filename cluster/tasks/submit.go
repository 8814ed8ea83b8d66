package tasks

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/tracing"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Submission is a client's request to run a task.
type Submission struct {
	// ID is the idempotency key; empty picks a random one.
	ID string
	// Kind names a registered task kind.
	Kind string
	// Payload is the handler's input; it must pass the kind's check.
	Payload []byte
	// Overrides adjust the kind's default settings within its limits.
	Overrides actors.Overrides
	// Labels are free-form metadata.
	Labels map[string]string
	// JobID groups the task into a job.
	JobID string
	// JobStrategy is the job's strategy (one_for_one if empty).
	JobStrategy string
	// JobStage orders the tasks of a rest_for_one job.
	JobStage int
	// JobMaxRestarts is the job's restart budget (0: a task failing for
	// good fails the job), within JobRestartPeriod (0: the job's life).
	JobMaxRestarts   int
	JobRestartPeriod time.Duration
	// Restart is the task's restart type as a child of its job: transient
	// (if empty), temporary or permanent. Significant lets its exit shut
	// the job down (the job's auto_shutdown). Both need a JobID.
	Restart     string
	Significant bool
	// DependsOn are the tasks this one runs after (ids, or job stages
	// spelt job:<id>/stage:<n>, which Manager.Submit turns into the ids
	// of the stage's tasks): it waits until all completed and is
	// cancelled if one does not. BuildTask takes ids only.
	DependsOn []string
	// StartAt delays the first attempt to that time (zero: at once); see
	// checkStartAt for the times taken. The task is stored at once,
	// pending, and starts then on whichever member owns it.
	StartAt time.Time
	// ScheduleID and ScheduleSlot mark a run of a recurring schedule: the
	// schedule and the run's scheduled time (package schedule sets them).
	ScheduleID   string
	ScheduleSlot time.Time
	// Fresh: the caller made ID just now and never sent it before, so no
	// task is stored under it and Manager.Submit need not ask the store
	// (store.Prober) before running the first attempt ahead of the task's
	// write (Config.HoldFirstWrite): one store round trip instead of two.
	// A wrong hint stores nothing twice: the write's check that the id is
	// free still fails, the attempt's outcome is dropped and the stored
	// task answers; but that attempt may have run once. An empty ID is
	// fresh by itself (Submit makes one).
	Fresh bool
}

// MaxStartDelay bounds how far ahead a task may be submitted to start: a
// year covers yearly chores, and a time further out is more likely a typo
// (a wrong year) than a plan; recurring work belongs in a schedule.
const MaxStartDelay = 366 * 24 * time.Hour

// MaxStartPast is how far in the past a start time may lie and still be
// taken (the task then starts at once): it covers clocks that disagree and
// a submit retried a while after its first try. Further back, the time is
// refused as a likely mistake (a wrong year or zone).
const MaxStartPast = time.Hour

// checkStartAt checks a submission's start time against now.
func checkStartAt(at, now time.Time) error {
	switch {
	case at.IsZero():
		return nil
	case at.Before(now.Add(-MaxStartPast)):
		return fmt.Errorf("start time %s is %s in the past (at most %s is taken, then the task starts at once)",
			at.UTC().Format(time.RFC3339), now.Sub(at).Round(time.Second), MaxStartPast)
	case at.After(now.Add(MaxStartDelay)):
		return fmt.Errorf("start time %s is more than %s ahead; use a schedule for work that far out", at.UTC().Format(time.RFC3339), MaxStartDelay)
	}
	return nil
}

// Delayed reports whether t's first attempt is due after now.
func Delayed(t *messages.Task, now time.Time) bool {
	at := t.GetSpec().GetStartAt()
	return at != nil && at.AsTime().After(now)
}

// MaxJobRestarts bounds a job's restart budget: each restart reruns tasks,
// and a job that needs more than this should rethink its tasks' retry
// budgets instead.
const MaxJobRestarts = 1000

// MaxPayloadBytes bounds a payload: tasks are stored as one record, and a
// record over half a megabyte would not fit Consul's 512 KiB value limit.
const MaxPayloadBytes = 256 << 10

// taskIDPattern is the form of task and job ids (api.IDPattern).
const taskIDPattern = api.IDPattern

// validID reports whether id matches taskIDPattern.
func validID(id string) bool { return api.ValidID(id) }

// BuildTask checks a submission against the registry and returns the task
// to store, pending and owned by member. Every error wraps
// api.ErrInvalidArgument and says what is wrong; nothing is stored.
func BuildTask(reg *actors.Registry, sub Submission, member string, now time.Time) (*messages.Task, error) {
	invalid := func(err error) error { return fmt.Errorf("%w: %w", api.ErrInvalidArgument, err) }
	if sub.ID == "" {
		sub.ID = api.NewID()
	}
	if !validID(sub.ID) {
		return nil, invalid(fmt.Errorf("task id %q must match %s", sub.ID, taskIDPattern))
	}
	if sub.Kind == "" {
		return nil, invalid(fmt.Errorf("kind is required"))
	}
	kind, err := reg.Task(sub.Kind)
	if err != nil {
		return nil, invalid(err)
	}
	if len(sub.Payload) > MaxPayloadBytes {
		return nil, invalid(fmt.Errorf("payload is %d bytes, the limit is %d", len(sub.Payload), MaxPayloadBytes))
	}
	if err := kind.Validate(sub.Payload); err != nil {
		return nil, invalid(err)
	}
	if err := checkLabels(sub.Labels); err != nil {
		return nil, invalid(err)
	}
	s, err := kind.Resolve(sub.Overrides)
	if err != nil {
		return nil, invalid(err)
	}
	if err := checkStartAt(sub.StartAt, now); err != nil {
		return nil, invalid(err)
	}
	if sub.JobID != "" && !validID(sub.JobID) {
		return nil, invalid(fmt.Errorf("job id %q must match %s", sub.JobID, taskIDPattern))
	}
	if sub.JobID == "" && (sub.JobStrategy != "" || sub.JobStage != 0 || sub.JobMaxRestarts != 0 || sub.JobRestartPeriod != 0 || sub.Restart != "" || sub.Significant) {
		return nil, invalid(fmt.Errorf("a job strategy, stage, restart budget, restart type or significant needs a job id"))
	}
	if err := checkDependsOn(sub.ID, sub.DependsOn); err != nil {
		return nil, invalid(err)
	}
	restart, err := ParseRestart(sub.Restart)
	if err != nil {
		return nil, invalid(err)
	}
	if sub.JobID != "" {
		if sub.JobStrategy == "" {
			sub.JobStrategy = supervisor.OneForOne.String()
		}
		if err := checkJobFields(sub); err != nil {
			return nil, invalid(err)
		}
	}
	status := &messages.TaskStatus{
		State:       messages.TaskState_TASK_STATE_PENDING,
		Owner:       member,
		SubmittedAt: timestamppb.New(now),
	}
	start := now
	if sub.StartAt.After(now) {
		start = sub.StartAt
		status.NextAttemptAt = timestamppb.New(start)
	}
	if s.ScheduleToClose > 0 {
		status.Deadline = timestamppb.New(start.Add(s.ScheduleToClose))
	}
	return &messages.Task{Spec: taskSpec(sub, s, restart), Status: status}, nil
}

// taskSpec is the spec BuildTask stores for a checked submission, with its
// kind's settings s resolved against the submission's overrides.
func taskSpec(sub Submission, s actors.Settings, restart string) *messages.TaskSpec {
	return &messages.TaskSpec{
		Id:      sub.ID,
		Kind:    sub.Kind,
		Payload: sub.Payload,
		Retry: &messages.RetryPolicy{
			MaxAttempts:       int32(s.MaxAttempts),
			BackoffInitial:    durationpb.New(s.Backoff.Initial),
			BackoffMultiplier: s.Backoff.Multiplier,
			BackoffMax:        durationpb.New(s.Backoff.Max),
			Jitter:            jitterToProto[s.Backoff.Jitter],
		},
		AttemptTimeout:   durationpb.New(s.AttemptTimeout),
		HeartbeatTimeout: durationpb.New(s.HeartbeatTimeout),
		ScheduleToClose:  durationpb.New(s.ScheduleToClose),
		Labels:           maps.Clone(sub.Labels),
		JobId:            sub.JobID,
		JobStrategy:      sub.JobStrategy,
		JobStage:         int32(sub.JobStage),
		JobMaxRestarts:   int32(sub.JobMaxRestarts),
		JobRestartPeriod: jobPeriod(sub.JobRestartPeriod),
		Restart:          taskRestart(sub.JobID, restart),
		Significant:      sub.Significant,
		DependsOn:        slices.Clone(sub.DependsOn),
		StartAt:          optTimestamp(sub.StartAt),
		ScheduleId:       sub.ScheduleID,
		ScheduleSlot:     optTimestamp(sub.ScheduleSlot),
	}
}

// checkJobFields checks the job fields of a submission to a job: its
// strategy, stage and restart budget.
func checkJobFields(sub Submission) error {
	if _, err := supervisor.ParseStrategy(sub.JobStrategy); err != nil {
		return fmt.Errorf("job strategy %q: want one_for_one, one_for_all or rest_for_one", sub.JobStrategy)
	}
	if sub.JobStage < 0 || sub.JobStage > maxJobStage {
		return fmt.Errorf("job stage must be between 0 and %d, got %d", maxJobStage, sub.JobStage)
	}
	if sub.JobMaxRestarts < 0 || sub.JobMaxRestarts > MaxJobRestarts {
		return fmt.Errorf("job max restarts must be between 0 and %d, got %d", MaxJobRestarts, sub.JobMaxRestarts)
	}
	if sub.JobRestartPeriod < 0 {
		return fmt.Errorf("job restart period must not be negative, got %s", sub.JobRestartPeriod)
	}
	if sub.JobRestartPeriod != 0 && sub.JobMaxRestarts == 0 {
		return fmt.Errorf("a job restart period needs job max restarts above 0")
	}
	return nil
}

// taskRestart is the restart type a task stores: none outside a job, and
// none for transient (an empty one reads as transient), so the records of
// tasks that do not name one are as before.
func taskRestart(job, restart string) string {
	if job == "" || restart == api.RestartTransient {
		return ""
	}
	return restart
}

func optTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func optTimestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func jobPeriod(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// submitRoute is where a new task goes once placement has named its owner.
type submitRoute int

const (
	// submitOwned: this member owns the task and may run it: create it
	// claimed and running (Manager.createOwned).
	submitOwned submitRoute = iota
	// submitHandOff: another member owns it: hand it over (Peers.SubmitTo);
	// if that member cannot take it (handOffFinal), store it pending.
	submitHandOff
	// submitPending: store it pending for its owner to claim: this member
	// owns it but is fenced, or has no peers to reach the owner with.
	submitPending
)

// routeSubmit is the pure rule of where a new task owned by owner goes,
// from member (fenced or not, with peers or alone).
func routeSubmit(owner, member string, fenced, peers bool) submitRoute {
	switch {
	case owner == member && !fenced:
		return submitOwned
	case owner != member && peers:
		return submitHandOff
	}
	return submitPending
}

// handOffFinal reports whether the owner's answer to a hand-off is the
// submit's answer: the task taken (err nil), another task under its id,
// or a task the owner refuses as invalid. Any other error (unreachable,
// shutting down, fenced, another view of the cluster) has the task stored
// here, pending, for its owner (or whoever the reconciler picks) to claim.
func handOffFinal(err error) bool {
	return err == nil || errors.Is(err, api.ErrAlreadyExists) || errors.Is(err, api.ErrInvalidArgument)
}

// sameRequest reports whether a resubmission asks for the task that is
// already stored under its id (so it is a retry of the same submit).
func sameRequest(stored, asked *messages.Task) bool {
	a, b := stored.GetSpec(), asked.GetSpec()
	return a.GetKind() == b.GetKind() && bytes.Equal(a.GetPayload(), b.GetPayload()) && a.GetJobId() == b.GetJobId()
}

var jitterToProto = map[supervisor.Jitter]messages.Jitter{
	supervisor.JitterNone:  messages.Jitter_JITTER_NONE,
	supervisor.JitterFull:  messages.Jitter_JITTER_FULL,
	supervisor.JitterEqual: messages.Jitter_JITTER_EQUAL,
}

// settingsOf reads the supervision settings back from a stored spec.
func settingsOf(spec *messages.TaskSpec) (supervisor.Spec, supervisor.Watchdog) {
	r := spec.GetRetry()
	jitter := supervisor.JitterEqual
	for j, p := range jitterToProto {
		if p == r.GetJitter() {
			jitter = j
		}
	}
	return supervisor.Spec{
			Strategy: supervisor.OneForOne,
			Budget:   supervisor.Budget{MaxRestarts: int(r.GetMaxAttempts()) - 1},
			Backoff: supervisor.Backoff{
				Initial:    r.GetBackoffInitial().AsDuration(),
				Multiplier: r.GetBackoffMultiplier(),
				Max:        r.GetBackoffMax().AsDuration(),
				Jitter:     jitter,
			},
		}, supervisor.Watchdog{
			AttemptTimeout:   spec.GetAttemptTimeout().AsDuration(),
			HeartbeatTimeout: spec.GetHeartbeatTimeout().AsDuration(),
		}
}

// CheckTask checks a task another member built and sent here (a
// SubmitTask over remoting) exactly as BuildTask checks a client's
// submission: the id's form, a known kind, the payload, the policy within
// the kind's limits, the job's settings. It returns the task rebuilt from
// the sent spec, pending and owned by owner; of the sent status only the
// submission time is kept, so nothing else a peer claims (state, attempts,
// a result) is stored. Every error wraps api.ErrInvalidArgument.
func CheckTask(reg *actors.Registry, t *messages.Task, owner string) (*messages.Task, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", api.ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	spec := t.GetSpec()
	if !validID(spec.GetId()) { // BuildTask would give an empty id a new one
		return nil, invalid("task id %q must match %s", spec.GetId(), taskIDPattern)
	}
	submitted := t.GetStatus().GetSubmittedAt()
	if err := submitted.CheckValid(); err != nil {
		return nil, invalid("task %s has no valid submission time: %v", spec.GetId(), err)
	}
	r := spec.GetRetry()
	jitter, ok := supervisor.Jitter(0), false
	for j, p := range jitterToProto {
		if p == r.GetJitter() {
			jitter, ok = j, true
		}
	}
	if !ok {
		return nil, invalid("task %s: unknown jitter %v", spec.GetId(), r.GetJitter())
	}
	maxAttempts, multiplier := int(r.GetMaxAttempts()), r.GetBackoffMultiplier()
	initial, backoffMax := r.GetBackoffInitial().AsDuration(), r.GetBackoffMax().AsDuration()
	attempt, heartbeat := spec.GetAttemptTimeout().AsDuration(), spec.GetHeartbeatTimeout().AsDuration()
	deadline := spec.GetScheduleToClose().AsDuration()
	sub := Submission{
		ID: spec.GetId(), Kind: spec.GetKind(), Payload: spec.GetPayload(), Labels: spec.GetLabels(),
		JobID: spec.GetJobId(), JobStrategy: spec.GetJobStrategy(), JobStage: int(spec.GetJobStage()),
		JobMaxRestarts: int(spec.GetJobMaxRestarts()), JobRestartPeriod: spec.GetJobRestartPeriod().AsDuration(),
		Restart: spec.GetRestart(), Significant: spec.GetSignificant(), DependsOn: spec.GetDependsOn(),
		ScheduleID: spec.GetScheduleId(), StartAt: optTime(spec.GetStartAt()), ScheduleSlot: optTime(spec.GetScheduleSlot()),
		// Every setting as sent, so the kind's limits check all of them.
		Overrides: actors.Overrides{
			MaxAttempts: &maxAttempts, BackoffInitial: &initial, BackoffMultiplier: &multiplier, BackoffMax: &backoffMax,
			Jitter: &jitter, AttemptTimeout: &attempt, HeartbeatTimeout: &heartbeat, ScheduleToClose: &deadline,
		},
	}
	out, err := BuildTask(reg, sub, owner, submitted.AsTime())
	if err == nil {
		out.Spec.TraceContext = tracing.ForRecord(spec.GetTraceContext()) // the submit's trace, bounded
	}
	return out, err
}
