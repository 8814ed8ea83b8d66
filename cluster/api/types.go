package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// SubmitBatchRequest is the body of POST /v1/tasks:batch: several submits
// in one request. Each is answered as if sent alone.
type SubmitBatchRequest struct {
	Tasks []SubmitRequest `json:"tasks"`
}

// MaxBatch is the most tasks one batch may hold: it bounds the work one
// request starts at once.
const MaxBatch = 256

// SubmitBatchResponse is the answer to POST /v1/tasks:batch: one result per
// task, in the order of the request.
type SubmitBatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is one task's answer within a batch: the HTTP status code
// its own POST /v1/tasks would have had, and its status (201, 200) or its
// error.
type BatchResult struct {
	Code  int          `json:"code"`
	Task  *Status      `json:"task,omitempty"`
	Error *ErrorDetail `json:"error,omitempty"`
}

// Err is the task's error, wrapping its sentinel (nil if it was submitted).
func (r BatchResult) Err() error {
	switch {
	case r.Code >= 300 && r.Error != nil:
		return FromWire(r.Code, ErrorBody{Error: *r.Error})
	case r.Code >= 300 || r.Task == nil:
		return fmt.Errorf("%w: a batch result (code %d) has neither its task nor its error", ErrInternal, r.Code)
	}
	return nil
}

// SubmitRequest is the body of POST /v1/tasks.
type SubmitRequest struct {
	// ID is the idempotency key; empty lets the server pick one.
	ID string `json:"id,omitempty"`
	// Kind names a registered task kind.
	Kind string `json:"kind"`
	// Payload is any JSON value; typed kinds decode it strictly.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Policy overrides the kind's defaults within its limits.
	Policy *Policy `json:"policy,omitempty"`
	// Labels are free-form metadata.
	Labels map[string]string `json:"labels,omitempty"`
	// JobID groups the task into a job.
	JobID string `json:"job_id,omitempty"`
	// JobStrategy is the job's supervision strategy: one_for_one (default),
	// one_for_all or rest_for_one. Every task of a job must name the same.
	JobStrategy string `json:"job_strategy,omitempty"`
	// JobStage orders the tasks of a rest_for_one job.
	JobStage int `json:"job_stage,omitempty"`
	// JobMaxRestarts is the job's restart budget: how often a task failing
	// for good restarts the job before the job fails (0, the default: the
	// first such failure fails the job). Every task of a job must name the
	// same budget.
	JobMaxRestarts int `json:"job_max_restarts,omitempty"`
	// JobRestartPeriod is the budget's sliding window (absent: the job's life).
	JobRestartPeriod *Duration `json:"job_restart_period,omitempty"`
	// Restart is the task's restart type as a child of its job (needs
	// JobID): transient (the default), temporary or permanent.
	Restart string `json:"restart,omitempty"`
	// Significant: the task's exit may shut its job down, as the job's
	// auto_shutdown says (needs JobID).
	Significant bool `json:"significant,omitempty"`
	// DependsOn are the tasks this one runs after: task ids, which must
	// exist, or job stages spelt job:<id>/stage:<n> (the stage's tasks at
	// submit). The task waits, pending, until all completed; if one fails
	// or is cancelled, it is cancelled. At most 100.
	DependsOn []string `json:"depends_on,omitempty"`
	// StartAt delays the task's first attempt to that time (RFC 3339): it
	// is stored at once and waits, pending. A time up to an hour past
	// starts at once; further back, or more than 366 days ahead, is
	// refused (400).
	StartAt *time.Time `json:"start_at,omitempty"`
	// StartAfter delays the first attempt by this long from the submit (a
	// duration such as "90s"); not with StartAt.
	StartAfter *Duration `json:"start_after,omitempty"`
	// Fresh says the sender made ID just now and has never sent it: no
	// task can be stored under it, so the node skips asking the store
	// whether one is, and a short task costs one store round trip instead
	// of two. Set it on the first send only, never on a retry (the first
	// may have landed). A wrong hint is safe but not free: the task's
	// write still fails if the id is taken, and the stored task answers,
	// but the first attempt may have run once (its result is dropped).
	// The Go client sets it on the first send of an id it made itself.
	Fresh bool `json:"fresh,omitempty"`
}

// RestartRequest is the optional body of POST /v1/tasks/{id}/restart.
type RestartRequest struct {
	Reason string `json:"reason,omitempty"`
	// RequestID makes the restart idempotent: a restart with the id of the
	// task's last applied restart changes nothing (the client sets a new
	// one per call and keeps it across its retries).
	RequestID string `json:"request_id,omitempty"`
}

// Policy is the submit-time override of a kind's supervision settings, and
// the effective settings in a Status. Absent fields keep the defaults.
type Policy struct {
	MaxAttempts       *int      `json:"max_attempts,omitempty"`
	BackoffInitial    *Duration `json:"backoff_initial,omitempty"`
	BackoffMultiplier *float64  `json:"backoff_multiplier,omitempty"`
	BackoffMax        *Duration `json:"backoff_max,omitempty"`
	// Jitter is "none", "full" or "equal".
	Jitter           *string   `json:"jitter,omitempty"`
	AttemptTimeout   *Duration `json:"attempt_timeout,omitempty"`
	HeartbeatTimeout *Duration `json:"heartbeat_timeout,omitempty"`
	// Deadline is the schedule-to-close bound, from submission.
	Deadline *Duration `json:"deadline,omitempty"`
}

// Status is a task as clients see it.
type Status struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State string `json:"state"`
	// Attempts counts the attempts started so far.
	Attempts int    `json:"attempts"`
	Owner    string `json:"owner"`
	Epoch    uint64 `json:"epoch"`
	// Revision changes with every stored change; pass it as ?index= to wait
	// for the next one.
	Revision uint64 `json:"revision"`
	// Result is the handler's output when it is JSON.
	Result json.RawMessage `json:"result,omitempty"`
	// ResultBase64 is the handler's output when it is not JSON.
	ResultBase64 string `json:"result_base64,omitempty"`
	// ResultElided says a listing (GET /v1/tasks, a job's tasks) left the
	// result out for its size, ResultBytes; GET /v1/tasks/{id} has it.
	ResultElided bool `json:"result_elided,omitempty"`
	ResultBytes  int  `json:"result_bytes,omitempty"`
	// Error says why a failed or cancelled task ended.
	Error string `json:"error,omitempty"`
	// Errors has one entry per failed attempt, oldest first: all of them,
	// or the first and the last few of a long history, with ErrorsOmitted
	// counting those left out between them.
	Errors        []AttemptError    `json:"errors"`
	ErrorsOmitted int               `json:"errors_omitted,omitempty"`
	Progress      float64           `json:"progress"`
	ProgressNote  string            `json:"progress_note,omitempty"`
	SubmittedAt   time.Time         `json:"submitted_at"`
	StartedAt     *time.Time        `json:"started_at,omitempty"`
	FinishedAt    *time.Time        `json:"finished_at,omitempty"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	Deadline      *time.Time        `json:"deadline,omitempty"`
	Policy        Policy            `json:"policy"`
	Labels        map[string]string `json:"labels,omitempty"`
	JobID         string            `json:"job_id,omitempty"`
	JobStrategy   string            `json:"job_strategy,omitempty"`
	JobStage      int               `json:"job_stage,omitempty"`
	// BudgetBase is the attempt count at the task's last job restart: its
	// retry budget counts the attempts after it.
	BudgetBase int `json:"budget_base,omitempty"`
	// JobRestarts counts the job restarts this task went through.
	JobRestarts int `json:"job_restarts,omitempty"`
	// Waiting says why a due attempt has not started: its kind, or its
	// owner, is at its cap of abandoned attempts (handlers that did not
	// return when their attempt ended). It starts once some return.
	Waiting string `json:"waiting,omitempty"`
	// Restart is the task's restart type in its job (absent outside a
	// job); Significant says whether its exit may shut the job down.
	Restart     string `json:"restart,omitempty"`
	Significant bool   `json:"significant,omitempty"`
	// DependsOn are the ids of the tasks this one runs after (job stages
	// expanded); Waiting says so while it waits for them.
	DependsOn []string `json:"depends_on,omitempty"`
	// CheckpointAt is when the handler last saved a checkpoint (absent:
	// none), CheckpointBytes its size and CheckpointAttempt the attempt
	// that saved it: the next attempt starts from it.
	CheckpointAt      *time.Time `json:"checkpoint_at,omitempty"`
	CheckpointBytes   int        `json:"checkpoint_bytes,omitempty"`
	CheckpointAttempt int        `json:"checkpoint_attempt,omitempty"`
	// Retries counts how often the task was sent round again after it
	// failed or was cancelled (POST /v1/tasks/{id}/retry); RetriedAt is
	// when it last was.
	Retries   int        `json:"retries,omitempty"`
	RetriedAt *time.Time `json:"retried_at,omitempty"`
	// Payload is the task's input when it is JSON, PayloadBase64 when it
	// is not. A listing leaves out a payload larger than ListResultBytes
	// (PayloadElided, its size in PayloadBytes); GET /v1/tasks/{id} has it.
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadBase64 string          `json:"payload_base64,omitempty"`
	PayloadElided bool            `json:"payload_elided,omitempty"`
	PayloadBytes  int             `json:"payload_bytes,omitempty"`
	// StartAt is when the task was submitted to start (absent: at once);
	// until then it is pending, Waiting saying so.
	StartAt *time.Time `json:"start_at,omitempty"`
	// Schedule is the recurring schedule this task is a run of, and
	// ScheduleSlot the run's scheduled time.
	Schedule     string     `json:"schedule,omitempty"`
	ScheduleSlot *time.Time `json:"schedule_slot,omitempty"`
}

// Terminal reports whether the task has ended.
func (s *Status) Terminal() bool { return IsTerminal(s.State) }

// AttemptError is one failed attempt.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	Cause   string    `json:"cause"`
	Message string    `json:"message"`
	Stack   string    `json:"stack,omitempty"`
	At      time.Time `json:"at"`
	Member  string    `json:"member,omitempty"`
	// StartedAt is when the attempt started (absent in records written
	// before it was kept).
	StartedAt *time.Time `json:"started_at,omitempty"`
}

// TaskList is the body of GET /v1/tasks and GET /v1/jobs/{id}/tasks. A
// page holds at most ?limit= tasks and about the node's page byte budget
// (a few MiB): it may end early, with Next set. Results larger than
// ListResultBytes are elided (Status.ResultElided).
type TaskList struct {
	Tasks []*Status `json:"tasks"`
	Count int       `json:"count"`
	// Next is the cursor of the next page (?cursor=), empty on the last
	// page.
	Next string `json:"next,omitempty"`
}

// ListResultBytes is the largest result a listing carries: larger ones are
// elided, their size given, so a page of a thousand tasks stays small
// whatever their handlers return; GET /v1/tasks/{id} has the result.
const ListResultBytes = 1 << 10

// Health is the body of GET /healthz.
type Health struct {
	Status string `json:"status"`
	Member string `json:"member"`
	// Activations is the number of grain activations on the member.
	Activations int `json:"activations"`
}

// GrainState is the body of GET /v1/grains/{kind}/{id}/state: a durable
// grain's state as last stored (version 0 and no state: none stored).
type GrainState struct {
	Kind     string `json:"kind"`
	Identity string `json:"identity"`
	Version  uint64 `json:"version"`
	// State is the state when it is JSON (kinds of Go types); StateBase64
	// when it is not (proto messages are stored in binary).
	State       json.RawMessage `json:"state,omitempty"`
	StateBase64 string          `json:"state_base64,omitempty"`
	// Reminders are the grain's durable reminders, stored with its state.
	Reminders []Reminder `json:"reminders,omitempty"`
}

// Reminder is one durable reminder of a grain, in GrainState.
type Reminder struct {
	Name string `json:"name"`
	// Due is when it fires next.
	Due time.Time `json:"due"`
	// Period is the time between firings; absent for a one-shot reminder.
	Period Duration `json:"period,omitempty"`
	// Payload is what the grain gets when it fires, as JSON when it is
	// JSON, else in PayloadBase64.
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadBase64 string          `json:"payload_base64,omitempty"`
}

// GrainReply is the body of POST /v1/grains/{kind}/{id}.
type GrainReply struct {
	// Result is the grain's answer when it is JSON.
	Result json.RawMessage `json:"result,omitempty"`
	// ResultBase64 is the grain's answer when it is not JSON.
	ResultBase64 string `json:"result_base64,omitempty"`
	// Member hosts the activation that answered.
	Member string `json:"member"`
	// ActivationID is unique to that activation.
	ActivationID string `json:"activation_id"`
}

// Member is one cluster member in GET /v1/members.
type Member struct {
	ID       string   `json:"id"`
	Addr     string   `json:"addr"`
	HTTPAddr string   `json:"http_addr"`
	Kinds    []string `json:"kinds"`
	// Version is what the member is built from (its binary's build
	// information, or node.Config.Version); absent for members older than
	// this field.
	Version string `json:"version,omitempty"`
	Healthy bool   `json:"healthy"`
	// Draining: the member is stopping gracefully. It finishes the work it
	// has and takes no new work: submit elsewhere.
	Draining bool `json:"draining,omitempty"`
	// Activations is the member's grain activation count (-1: it did not
	// answer).
	Activations int `json:"activations"`
}

// MemberList is the body of GET /v1/members.
type MemberList struct {
	Members []Member `json:"members"`
	Count   int      `json:"count"`
}

// The task states as they appear in JSON.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateRetrying  = "retrying"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// States lists every state, in lifecycle order.
var States = []string{StatePending, StateRunning, StateRetrying, StateCompleted, StateFailed, StateCancelled}

// IsTerminal reports whether a state is final.
func IsTerminal(state string) bool {
	return state == StateCompleted || state == StateFailed || state == StateCancelled
}

// Duration is a time.Duration that reads and writes Go duration strings.
type Duration time.Duration

// MarshalText writes the duration as a string such as "1.5s" (JSON
// quotes it). It is MarshalText rather than MarshalJSON because
// encoding/json re-parses what a MarshalJSON returns, and every task
// status carries several durations.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		s = string(b[1 : n-1]) // a string without escapes, as durations are
	} else if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"1.5s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Ptr returns a pointer to v, for filling Policy fields.
func Ptr[T any](v T) *T { return &v }

// NewID returns a random task id. Clients pick ids before submitting, so a
// submit retried after a lost answer finds the task it created.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "t-" + hex.EncodeToString(b[:])
}
