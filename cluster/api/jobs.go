package api

import (
	"cmp"
	"time"

	"github.com/granary-rt/granary/messages"
)

// A job is a supervisor, after Erlang/OTP: its children are its tasks (a
// task joins by naming the job's id) and its child jobs (a job names its
// parent). It exists implicitly once a task names it, or explicitly once
// declared with PUT /v1/jobs/{id} and a JobSpec.

// The restart types of a child (a task or a child job), after OTP.
const (
	// RestartTransient (the default): restarted after a failure, not after
	// it completes.
	RestartTransient = "transient"
	// RestartTemporary: never restarted by its job; its failure neither
	// counts against the job's budget nor escalates.
	RestartTemporary = "temporary"
	// RestartPermanent: restarted even after it completes (a supervised
	// long-running service).
	RestartPermanent = "permanent"
)

// RestartTypes lists the restart types, the default first.
var RestartTypes = []string{RestartTransient, RestartTemporary, RestartPermanent}

// The auto_shutdown settings of a job, after OTP: when the job ends by
// itself after its significant children exit.
const (
	// AutoShutdownNever (the default): significant children change nothing.
	AutoShutdownNever = "never"
	// AutoShutdownAnySignificant: the job ends when any significant child
	// ends (completes).
	AutoShutdownAnySignificant = "any_significant"
	// AutoShutdownAllSignificant: the job ends when every significant child
	// has ended.
	AutoShutdownAllSignificant = "all_significant"
)

// AutoShutdowns lists the auto_shutdown settings, the default first.
var AutoShutdowns = []string{AutoShutdownNever, AutoShutdownAnySignificant, AutoShutdownAllSignificant}

// DefaultShutdown is a job's shutdown time when its declaration does not
// name one: 5 s, OTP's default for a worker child.
const DefaultShutdown = 5 * time.Second

// MaxShutdown bounds a job's shutdown time: a stop or a group restart
// waits up to this long for each child, and an hour is already far past
// any handler that honours its context.
const MaxShutdown = time.Hour

// JobSpec is a job's declaration: the body of PUT /v1/jobs/{id}, and the
// declaration part of every job view (GET /v1/jobs/{id} and the nodes of
// GET /v1/jobs/{id}/tree, where absent settings read as their defaults).
type JobSpec struct {
	// Strategy is the job's supervision strategy: one_for_one (default),
	// one_for_all or rest_for_one.
	Strategy string `json:"strategy"`
	// MaxRestarts is the job's restart budget within RestartPeriod (0, the
	// default: the first child failing for good fails the job).
	MaxRestarts int `json:"max_restarts"`
	// RestartPeriod is the budget's sliding window (absent: the job's life).
	RestartPeriod *Duration `json:"restart_period,omitempty"`
	// Shutdown is how long a child the job terminates may take to exit
	// before its attempt is abandoned (absent: DefaultShutdown; "0s": at
	// once, OTP's brutal_kill; at most MaxShutdown).
	Shutdown *Duration `json:"shutdown,omitempty"`
	// AutoShutdown is never (default), any_significant or all_significant.
	AutoShutdown string `json:"auto_shutdown,omitempty"`
	// Parent is the job this job is a child of (absent: a root job). It
	// must exist and not have failed or been stopped.
	Parent string `json:"parent,omitempty"`
	// Stage orders the job among its parent's children (start order, with
	// the tasks' job_stage).
	Stage int `json:"stage,omitempty"`
	// Restart is the job's restart type as a child of its parent:
	// transient (default), temporary or permanent.
	Restart string `json:"restart,omitempty"`
	// Significant: the job's exit may shut its parent down (the parent's
	// AutoShutdown).
	Significant bool `json:"significant,omitempty"`
}

// JobStatus is the body of GET /v1/jobs/{id}: the job's declaration (or,
// for a job made by its first task, the strategy and budget that task
// named), its state and its tasks. Its child jobs are in GET
// /v1/jobs/{id}/tree.
type JobStatus struct {
	ID string `json:"id"`
	JobSpec
	// State is pending for a declared job that has no child yet; running
	// until every child finished; then completed if all completed, else
	// failed (or cancelled if no child failed).
	State string `json:"state"`
	// Error names the child whose failure failed the job, and why, or why
	// the job was stopped.
	Error  string         `json:"error,omitempty"`
	Counts map[string]int `json:"counts"`
	// Restarts counts the job's restarts; MaxRestarts is its budget within
	// RestartPeriod (absent: the job's life).
	Restarts   int          `json:"restarts"`
	RestartLog []JobRestart `json:"restart_log,omitempty"`
	// Declared: the job was declared with PUT /v1/jobs/{id}, not made by
	// its first task.
	Declared bool `json:"declared"`
	// Depth is the job's depth in its tree (0: a root job).
	Depth     int        `json:"depth"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	// Tasks is the first page of the job's tasks, by id, as a listing has
	// them (large results elided); TasksNext, if not empty, is the cursor
	// of the next page of GET /v1/jobs/{id}/tasks. TaskCount counts them
	// all.
	Tasks     []*Status `json:"tasks"`
	TasksNext string    `json:"tasks_next,omitempty"`
	TaskCount int       `json:"task_count"`
}

// JobRestart is one restart of a job: when, and which task's failure
// caused it.
type JobRestart struct {
	At    time.Time `json:"at"`
	Task  string    `json:"task"`
	Error string    `json:"error"`
}

// JobTree is the body of GET /v1/jobs/{id}/tree and of DELETE
// /v1/jobs/{id}: the job and its descendants, to any depth.
type JobTree struct {
	Root *JobNode `json:"root"`
	// Jobs and Tasks count the nodes drawn.
	Jobs  int `json:"jobs"`
	Tasks int `json:"tasks"`
	// Truncated: the tree holds more than a node answers with (see
	// tasks.MaxTreeJobs, tasks.MaxTreeTasks); the nodes left out are
	// counted in their parents' Omitted fields.
	Truncated bool `json:"truncated,omitempty"`
}

// Finished reports whether every job and task of the tree has ended.
func (t *JobTree) Finished() bool {
	jobs, tasks := t.Unfinished()
	return jobs+tasks == 0
}

// Unfinished counts the jobs and tasks of the tree that have not ended.
func (t *JobTree) Unfinished() (jobs, tasks int) {
	var walk func(n *JobNode)
	walk = func(n *JobNode) {
		if !IsTerminal(n.State) {
			jobs++
		}
		for _, c := range n.Tasks {
			if !IsTerminal(c.State) {
				tasks++
			}
		}
		for _, c := range n.Jobs {
			walk(c)
		}
	}
	if t.Root != nil {
		walk(t.Root)
	}
	return jobs, tasks
}

// JobNode is one job of a JobTree.
type JobNode struct {
	ID string `json:"id"`
	JobSpec
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Restarts counts every restart of the job; RestartsInPeriod those
	// within its RestartPeriod now: the budget used, out of MaxRestarts.
	Restarts         int            `json:"restarts"`
	RestartsInPeriod int            `json:"restarts_in_period"`
	Declared         bool           `json:"declared"`
	Depth            int            `json:"depth"`
	Counts           map[string]int `json:"counts"`
	// Tasks and Jobs are the job's children, each in start order (stage,
	// then id).
	Tasks []TaskNode `json:"tasks"`
	Jobs  []*JobNode `json:"jobs"`
	// TasksOmitted and JobsOmitted count the children left out of a
	// truncated tree.
	TasksOmitted int `json:"tasks_omitted,omitempty"`
	JobsOmitted  int `json:"jobs_omitted,omitempty"`
}

// TaskNode is one task of a JobNode: what a tree shows of it (GET
// /v1/tasks/{id} has the rest).
type TaskNode struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	Stage       int    `json:"stage,omitempty"`
	Restart     string `json:"restart"`
	Significant bool   `json:"significant,omitempty"`
	Attempts    int    `json:"attempts"`
	// JobRestarts counts the job restarts the task went through.
	JobRestarts int    `json:"job_restarts,omitempty"`
	Owner       string `json:"owner,omitempty"`
	Error       string `json:"error,omitempty"`
}

// RestartTypeOf is a task's restart type as stored (empty reads as
// transient).
func RestartTypeOf(spec *messages.TaskSpec) string {
	return cmp.Or(spec.GetRestart(), RestartTransient)
}

// JobSpecOf is a job record's declaration as the API shows it, absent
// settings as their defaults (nil: a job without a record, made before
// records existed).
func JobSpecOf(j *messages.Job) JobSpec {
	s := JobSpec{Strategy: j.GetStrategy(), MaxRestarts: int(j.GetMaxRestarts()), AutoShutdown: cmp.Or(j.GetAutoShutdown(), AutoShutdownNever),
		Parent: j.GetParent(), Stage: int(j.GetStage()), Significant: j.GetSignificant(), Shutdown: Ptr(Duration(DefaultShutdown))}
	if p := j.GetRestartPeriod().AsDuration(); p > 0 {
		s.RestartPeriod = Ptr(Duration(p))
	}
	if j.GetShutdown() != nil {
		s.Shutdown = Ptr(Duration(j.GetShutdown().AsDuration()))
	}
	if s.Parent != "" {
		s.Restart = cmp.Or(j.GetRestart(), RestartTransient)
	}
	return s
}
