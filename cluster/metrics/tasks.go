package metrics

import (
	"time"

	"github.com/granary-rt/granary/supervisor"
	"github.com/prometheus/client_golang/prometheus"
)

// causes are the failure causes an attempt can end with; outcome labels
// are "succeeded" and these.
var causes = []supervisor.Cause{supervisor.CauseError, supervisor.CausePanic, supervisor.CauseAttemptTimeout,
	supervisor.CauseHeartbeatTimeout, supervisor.CauseMemberLost, supervisor.CauseDeadline, supervisor.CauseCancelled}

// TaskKind is the instruments of one task kind, with every label child
// resolved once, so recording is an atomic add. Nil records nothing.
type TaskKind struct {
	submitted, started, succeeded prometheus.Counter
	failed                        []prometheus.Counter // by Cause
	otherFailed                   prometheus.Counter   // a cause outside causes
	ranOK, ranFailed              prometheus.Observer
	adopted                       prometheus.Counter
}

// Task returns the instruments of a task kind (made on first use, then
// cached). Pass only registered kinds: each kind is a set of series.
func (m *Metrics) Task(kind string) *TaskKind {
	if m == nil {
		return nil
	}
	if k, ok := m.taskKinds.Load(kind); ok {
		return k.(*TaskKind)
	}
	k := &TaskKind{
		submitted:   m.tasksSubmitted.WithLabelValues(kind),
		started:     m.attemptsStarted.WithLabelValues(kind),
		succeeded:   m.attemptsFinished.WithLabelValues(kind, "succeeded"),
		otherFailed: m.attemptsFinished.WithLabelValues(kind, "other"),
		ranOK:       m.attemptDuration.WithLabelValues(kind, "succeeded"),
		ranFailed:   m.attemptDuration.WithLabelValues(kind, "failed"),
		adopted:     m.adopted.WithLabelValues(kind),
	}
	for _, c := range causes {
		k.failed = append(k.failed, m.attemptsFinished.WithLabelValues(kind, c.String()))
	}
	actual, _ := m.taskKinds.LoadOrStore(kind, k)
	return actual.(*TaskKind)
}

// Submitted counts a task created by a submit.
func (k *TaskKind) Submitted() {
	if k != nil {
		k.submitted.Inc()
	}
}

// AttemptStarted counts an attempt started.
func (k *TaskKind) AttemptStarted() {
	if k != nil {
		k.started.Inc()
	}
}

// AttemptSucceeded counts an attempt that returned its result after ran.
func (k *TaskKind) AttemptSucceeded(ran time.Duration) {
	if k != nil {
		k.succeeded.Inc()
		k.ranOK.Observe(ran.Seconds())
	}
}

// AttemptFailed counts an attempt that failed with cause after ran (0:
// unknown, as for an attempt lost with its member: it is counted but not
// timed).
func (k *TaskKind) AttemptFailed(cause supervisor.Cause, ran time.Duration) {
	if k == nil {
		return
	}
	if int(cause) >= 0 && int(cause) < len(k.failed) {
		k.failed[cause].Inc()
	} else {
		k.otherFailed.Inc()
	}
	if ran > 0 {
		k.ranFailed.Observe(ran.Seconds())
	}
}

// Adopted counts a task this member claimed from a member that left.
func (k *TaskKind) Adopted() {
	if k != nil {
		k.adopted.Inc()
	}
}

// AdoptionDelay records, for a task handed to its actor for adoption, the
// time since this member's view lost the task's owner.
func (m *Metrics) AdoptionDelay(lostFor time.Duration) {
	if m != nil {
		m.adoption.Observe(lostFor.Seconds())
	}
}

// Decision counts a supervisor decision on a failure.
func (m *Metrics) Decision(cause supervisor.Cause, d supervisor.Directive) {
	if m != nil {
		m.decisions.WithLabelValues(cause.String(), d.String()).Inc()
	}
}

// JobRestarted counts a job restart decided by its supervisor.
func (m *Metrics) JobRestarted(strategy string) {
	if m != nil {
		m.jobRestarts.WithLabelValues(strategy).Inc()
	}
}

// JobFailed counts a job that failed.
func (m *Metrics) JobFailed(strategy string) {
	if m != nil {
		m.jobFailures.WithLabelValues(strategy).Inc()
	}
}
