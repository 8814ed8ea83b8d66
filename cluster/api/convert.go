package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var stateNames = map[messages.TaskState]string{
	messages.TaskState_TASK_STATE_PENDING:   StatePending,
	messages.TaskState_TASK_STATE_RUNNING:   StateRunning,
	messages.TaskState_TASK_STATE_RETRYING:  StateRetrying,
	messages.TaskState_TASK_STATE_COMPLETED: StateCompleted,
	messages.TaskState_TASK_STATE_FAILED:    StateFailed,
	messages.TaskState_TASK_STATE_CANCELLED: StateCancelled,
}

// StateName is the JSON name of a stored state.
func StateName(s messages.TaskState) string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return "unspecified"
}

// ParseState turns a JSON state name into the stored state. The error wraps
// ErrInvalidArgument and lists the valid names.
func ParseState(name string) (messages.TaskState, error) {
	for s, n := range stateNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown state %q (one of %s)", ErrInvalidArgument, name, strings.Join(States, ", "))
}

var jitterNames = map[messages.Jitter]string{
	messages.Jitter_JITTER_NONE:  "none",
	messages.Jitter_JITTER_FULL:  "full",
	messages.Jitter_JITTER_EQUAL: "equal",
}

// FromTask converts a stored task and its store revision into a Status.
func FromTask(t *messages.Task, revision uint64) *Status {
	spec, st := t.GetSpec(), t.GetStatus()
	s := &Status{
		ID:                spec.GetId(),
		Kind:              spec.GetKind(),
		State:             StateName(st.GetState()),
		Attempts:          int(st.GetAttempts()),
		Owner:             st.GetOwner(),
		Epoch:             st.GetEpoch(),
		Revision:          revision,
		Error:             st.GetError(),
		Errors:            make([]AttemptError, 0, len(st.GetErrors())),
		ErrorsOmitted:     int(st.GetErrorsOmitted()),
		Progress:          st.GetProgress(),
		ProgressNote:      st.GetProgressNote(),
		SubmittedAt:       st.GetSubmittedAt().AsTime(),
		StartedAt:         optTime(st.GetStartedAt()),
		FinishedAt:        optTime(st.GetFinishedAt()),
		NextAttemptAt:     optTime(st.GetNextAttemptAt()),
		Waiting:           st.GetWaiting(),
		Deadline:          optTime(st.GetDeadline()),
		Labels:            spec.GetLabels(),
		JobID:             spec.GetJobId(),
		JobStrategy:       spec.GetJobStrategy(),
		JobStage:          int(spec.GetJobStage()),
		BudgetBase:        int(st.GetBudgetBase()),
		JobRestarts:       int(st.GetJobRestarts()),
		Significant:       spec.GetSignificant(),
		DependsOn:         spec.GetDependsOn(),
		CheckpointAt:      optTime(st.GetCheckpointAt()),
		CheckpointBytes:   len(st.GetCheckpoint()),
		CheckpointAttempt: int(st.GetCheckpointAttempt()),
		Retries:           int(st.GetRetries()),
		RetriedAt:         optTime(st.GetRetriedAt()),
		PayloadBytes:      len(spec.GetPayload()),
	}
	if spec.GetJobId() != "" {
		s.Restart = RestartTypeOf(spec)
	}
	s.StartAt, s.Schedule, s.ScheduleSlot = optTime(spec.GetStartAt()), spec.GetScheduleId(), optTime(spec.GetScheduleSlot())
	if s.StartAt != nil && s.State == StatePending && s.Waiting == "" {
		s.Waiting = "scheduled until " + s.StartAt.UTC().Format(time.RFC3339)
	}
	s.Result, s.ResultBase64 = JSONOrBase64(st.GetResult())
	s.Payload, s.PayloadBase64 = JSONOrBase64(spec.GetPayload())
	for _, e := range st.GetErrors() {
		s.Errors = append(s.Errors, AttemptError{
			Attempt:   int(e.GetAttempt()),
			Cause:     e.GetCause(),
			Message:   e.GetMessage(),
			Stack:     e.GetStack(),
			At:        e.GetAt().AsTime(),
			Member:    e.GetMember(),
			StartedAt: optTime(e.GetStartedAt()),
		})
	}
	r := spec.GetRetry()
	s.Policy = Policy{
		MaxAttempts:       Ptr(int(r.GetMaxAttempts())),
		BackoffInitial:    Ptr(Duration(r.GetBackoffInitial().AsDuration())),
		BackoffMultiplier: Ptr(r.GetBackoffMultiplier()),
		BackoffMax:        Ptr(Duration(r.GetBackoffMax().AsDuration())),
		AttemptTimeout:    Ptr(Duration(spec.GetAttemptTimeout().AsDuration())),
		HeartbeatTimeout:  Ptr(Duration(spec.GetHeartbeatTimeout().AsDuration())),
		Deadline:          Ptr(Duration(spec.GetScheduleToClose().AsDuration())),
	}
	if j, ok := jitterNames[r.GetJitter()]; ok {
		s.Policy.Jitter = Ptr(j)
	}
	return s
}

// ListingOf is FromTask as a listing carries the task: a result larger
// than ListResultBytes is left out, its size and a flag in its place (and
// is not read: checking 175 KB for JSON three hundred times a page was
// most of a listing's time). t is the caller's alone: it is changed for
// the call and restored.
func ListingOf(t *messages.Task, revision uint64) *Status {
	st, spec := t.GetStatus(), t.GetSpec()
	res, payload := st.GetResult(), spec.GetPayload()
	bigResult, bigPayload := len(res) > ListResultBytes, len(payload) > ListResultBytes
	if !bigResult && !bigPayload {
		return FromTask(t, revision)
	}
	if bigResult {
		st.Result = nil
	}
	if bigPayload {
		spec.Payload = nil
	}
	s := FromTask(t, revision)
	if bigResult {
		st.Result = res
		s.ResultElided, s.ResultBytes = true, len(res)
	}
	if bigPayload {
		spec.Payload = payload
		s.PayloadElided, s.PayloadBytes = true, len(payload)
	}
	return s
}

// JSONOrBase64 is how the API carries bytes that are usually JSON (a
// result, a grain's answer or state, a reminder's payload): as JSON when
// they are, else base64 in the field beside it; nothing for none.
func JSONOrBase64(b []byte) (json.RawMessage, string) {
	switch {
	case len(b) == 0:
		return nil, ""
	case json.Valid(b):
		return json.RawMessage(b), ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func optTime(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}
