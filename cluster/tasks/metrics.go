package tasks

import (
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// ownedCounts counts the task actors of this member by the state of their
// task: pending, running, retrying (indexed by TaskState; terminal tasks
// have no actor). Each actor keeps its own entry current (countState);
// Prometheus reads them when it scrapes.
type ownedCounts [messages.TaskState_TASK_STATE_RETRYING + 1]atomic.Int64

// readOwned reports the counts, for metrics.ReadOwnedTasks.
func (m *Manager) readOwned(report func(state string, n int)) {
	for _, s := range []messages.TaskState{messages.TaskState_TASK_STATE_PENDING, messages.TaskState_TASK_STATE_RUNNING, messages.TaskState_TASK_STATE_RETRYING} {
		report(stateLabel(s), int(m.owned[s].Load()))
	}
}

func stateLabel(s messages.TaskState) string {
	switch s {
	case messages.TaskState_TASK_STATE_PENDING:
		return "pending"
	case messages.TaskState_TASK_STATE_RUNNING:
		return "running"
	case messages.TaskState_TASK_STATE_RETRYING:
		return "retrying"
	}
	return "unknown"
}

// actorMetrics is what a task actor reports to metrics.
type actorMetrics struct {
	kind    *metrics.TaskKind  // nil: metrics off, or the kind is not known yet
	started time.Time          // when the running attempt started (zero: none timed)
	counted messages.TaskState // the state this actor is counted under in ownedCounts
	gone    bool               // stopping or restarting: counted under none
	// adopting: the task was loaded owned by another member, to adopt;
	// its claim is counted as an adoption.
	adopting bool
}

// claimed counts an adoption once its claim has landed.
func (a *taskActor) claimed() {
	if a.obs.adopting {
		a.obs.adopting = false
		a.obs.kind.Adopted()
	}
}

// countState moves this actor's entry in the owned counts to its task's
// state: after every message, so each change is counted once.
func (a *taskActor) countState() {
	if a.m.metrics == nil {
		return
	}
	s := messages.TaskState_TASK_STATE_UNSPECIFIED
	if !a.obs.gone && a.rec.Task != nil {
		s = a.rec.Task.GetStatus().GetState()
	}
	if int(s) >= len(a.m.owned) {
		s = messages.TaskState_TASK_STATE_UNSPECIFIED
	}
	if s == a.obs.counted {
		return
	}
	if a.obs.counted != messages.TaskState_TASK_STATE_UNSPECIFIED {
		a.m.owned[a.obs.counted].Add(-1)
	}
	if s != messages.TaskState_TASK_STATE_UNSPECIFIED {
		a.m.owned[s].Add(1)
	}
	a.obs.counted = s
}

func (a *taskActor) attemptStarted() {
	if a.obs.kind != nil {
		a.obs.kind.AttemptStarted()
		a.obs.started = time.Now()
	}
}

func (a *taskActor) attemptSucceeded() {
	if a.obs.kind != nil {
		a.obs.kind.AttemptSucceeded(time.Since(a.obs.started))
		a.obs.started = time.Time{}
	}
}

// attemptFailed counts a failed attempt (one lost with its member is
// counted, not timed) and, when d is not negative, the supervisor's
// decision on it.
func (a *taskActor) attemptFailed(cause supervisor.Cause, d supervisor.Directive) {
	if a.m.metrics == nil {
		return
	}
	var ran time.Duration
	if !a.obs.started.IsZero() {
		ran, a.obs.started = time.Since(a.obs.started), time.Time{}
	}
	a.obs.kind.AttemptFailed(cause, ran)
	if d >= 0 {
		a.m.metrics.Decision(cause, d)
	}
}
