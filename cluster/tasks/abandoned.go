package tasks

// Abandoned attempts. An attempt ends (attempt or heartbeat time-out,
// deadline, cancel, job restart, member stop) by cancelling its handler's
// context and moving on; Go cannot stop a goroutine, so a handler that
// ignores its context keeps running, holding its goroutine, its payload and
// whatever it allocated. Such an attempt is abandoned until its handler
// returns, and its result is then dropped (the task actor it reports to
// no longer runs that attempt, and a commit is fenced by attempt number
// and epoch anyway).
//
// Without a bound, a kind whose handler hangs with a short attempt time-out
// and many attempts leaks a goroutine per attempt: 20 such tasks reached
// 20,000 goroutines and 223 MB in 40 s (issue 19). So abandoned attempts
// are counted, per kind and for the member, and capped (AbandonLimits):
// a kind at its cap gets no new attempt on this member, and past the
// member's cap no attempt of any kind starts here. Such a task waits,
// owned and due, with the reason in its status (TaskStatus.waiting), and
// starts when abandoned attempts return; nothing is lost or failed for it.

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// AbandonLimits caps a member's abandoned attempts: attempts that ended
// while their handler had not returned (it ignores its context).
type AbandonLimits struct {
	// PerKind: a task kind with this many abandoned attempts on the member
	// gets no new attempt there until some of them return.
	PerKind int
	// PerMember: with this many abandoned attempts of all kinds together,
	// no new attempt of any kind starts on the member.
	PerMember int
}

// DefaultAbandonLimits returns the caps of DefaultConfig.
func DefaultAbandonLimits() AbandonLimits {
	return AbandonLimits{
		// 64: a handler that honours its context returns within
		// microseconds of its cancellation, so a healthy kind's count stays
		// at 0; 64 rides out a burst of time-outs of a kind that notices
		// cancellation late (a blocking call with its own time-out), while
		// a kind that never returns holds at most 64 goroutines and
		// payloads (64 × 360 KiB, MaxRecordBytes, is 23 MiB at worst; the
		// issue's 20,023 goroutines were about 9.5 KiB each).
		PerKind: 64,
		// 256: four kinds at their cap before the member stops starting
		// anything, bounding what broken handlers hold to 256 goroutines
		// (90 MiB of payloads at worst), while one broken kind (64) never
		// stops the others.
		PerMember: 256,
	}
}

// errAbandonLimits: an AbandonLimits that cannot work.
var errAbandonLimits = errors.New("tasks: invalid Config.Abandoned")

// Validate reports caps that cannot work: each must be at least 1 (0 would
// start nothing), and the kind's cap cannot exceed the member's.
func (l AbandonLimits) Validate() error {
	switch {
	case l.PerKind < 1 || l.PerMember < 1:
		return fmt.Errorf("%w: PerKind (%d) and PerMember (%d) must be at least 1", errAbandonLimits, l.PerKind, l.PerMember)
	case l.PerKind > l.PerMember:
		return fmt.Errorf("%w: PerKind (%d) must not exceed PerMember (%d)", errAbandonLimits, l.PerKind, l.PerMember)
	}
	return nil
}

// abandonVerdict is the pure decision on starting an attempt of kind on
// member, given the abandoned attempts of that kind (ofKind) and of all
// kinds (total): "" to start, else why it waits.
func abandonVerdict(l AbandonLimits, member, kind string, ofKind, total int) string {
	switch {
	case total >= l.PerMember:
		return fmt.Sprintf("member %s has %d abandoned attempts (cap %d for all kinds): waiting for them to return", member, total, l.PerMember)
	case ofKind >= l.PerKind:
		return fmt.Sprintf("kind %s has %d abandoned attempts on member %s (cap %d): waiting for them to return", kind, ofKind, member, l.PerKind)
	}
	return ""
}

// abandonedAttempts counts a member's abandoned attempts and the task
// actors waiting for them to return. Handler goroutines and task actors
// both change it, so a mutex guards it; nothing blocks while holding it.
type abandonedAttempts struct {
	limits AbandonLimits
	member string

	mu      sync.Mutex
	total   int
	byKind  map[string]int                      // kinds with abandoned attempts
	waiters map[string]map[string]abandonWaiter // kind → task id → waiter
}

// abandonWaiter is a task actor waiting to start attempt after+1.
type abandonWaiter struct {
	pid   *actor.PID
	after int
}

func newAbandonedAttempts(l AbandonLimits, member string) *abandonedAttempts {
	return &abandonedAttempts{limits: l, member: member, byKind: map[string]int{}, waiters: map[string]map[string]abandonWaiter{}}
}

// blocked is why an attempt of kind may not start now ("" if it may).
func (a *abandonedAttempts) blocked(kind string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return abandonVerdict(a.limits, a.member, kind, a.byKind[kind], a.total)
}

// wait registers task id's actor to be woken when kind may start again,
// unless it may already (then it returns false and registers nothing):
// checking and registering under one lock, no wake-up is lost.
func (a *abandonedAttempts) wait(kind, id string, w abandonWaiter) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if abandonVerdict(a.limits, a.member, kind, a.byKind[kind], a.total) == "" {
		return false
	}
	if a.waiters[kind] == nil {
		a.waiters[kind] = map[string]abandonWaiter{}
	}
	a.waiters[kind][id] = w
	return true
}

// add counts an abandoned attempt of kind and reports whether the kind or
// the member just reached its cap.
func (a *abandonedAttempts) add(kind string) (reached string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	before := abandonVerdict(a.limits, a.member, kind, a.byKind[kind], a.total)
	a.total++
	a.byKind[kind]++
	if after := abandonVerdict(a.limits, a.member, kind, a.byKind[kind], a.total); before == "" {
		return after
	}
	return ""
}

// returned uncounts an abandoned attempt of kind whose handler returned,
// and hands back the waiters that may start now (removed: a woken task
// that still cannot start waits again).
func (a *abandonedAttempts) returned(kind string) []abandonWaiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.byKind[kind]--; a.byKind[kind] <= 0 {
		delete(a.byKind, kind)
	}
	var wake []abandonWaiter
	for k, ws := range a.waiters {
		if abandonVerdict(a.limits, a.member, k, a.byKind[k], a.total) != "" {
			continue
		}
		for _, w := range ws {
			wake = append(wake, w)
		}
		delete(a.waiters, k)
	}
	return wake
}

// count is the number of abandoned attempts, and of kind's ("" for all).
func (a *abandonedAttempts) count(kind string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if kind == "" {
		return a.total
	}
	return a.byKind[kind]
}

// Abandoned is a member's report on its abandoned attempts.
type Abandoned struct {
	// Count is the member's abandoned attempts, ByKind the kinds that have
	// any (each kind registered here is in the metric, 0 or not).
	Count  int
	ByKind map[string]int
	// Limits are the caps in force.
	Limits AbandonLimits
}

// Abandoned reports this member's abandoned attempts: attempts that ended
// while their handler had not returned.
func (m *Manager) Abandoned() Abandoned {
	a := m.abandoned
	a.mu.Lock()
	defer a.mu.Unlock()
	by := make(map[string]int, len(a.byKind))
	for k, n := range a.byKind {
		by[k] = n
	}
	return Abandoned{Count: a.total, ByKind: by, Limits: a.limits}
}

// readAbandoned reports the abandoned attempts of every registered kind,
// for metrics.ReadAbandonedAttempts.
func (m *Manager) readAbandoned(report func(kind string, n int)) {
	kinds := m.registry.TaskKinds()
	sort.Strings(kinds)
	for _, k := range kinds {
		report(k, m.abandoned.count(k))
	}
}

// Fates of a handler call (attemptRun.fate).
const (
	runRunning int32 = iota
	runReturned
	runAbandoned
)

// returned is called by the handler's goroutine when the handler returns:
// an abandoned run is uncounted, and the tasks waiting for it woken.
func (r *attemptRun) returned() {
	if r.fate.CompareAndSwap(runRunning, runReturned) {
		return
	}
	m := r.tc.m
	wake := m.abandoned.returned(r.tc.kind)
	m.log.Info("abandoned attempt's handler returned; its result is dropped", "task", r.tc.id, "kind", r.tc.kind, "waking", len(wake))
	for _, w := range wake {
		m.system.Root.Send(w.pid, &startAttempt{after: w.after})
	}
}

// abandon is called when the attempt ends: a handler still running is
// counted abandoned. It holds the count's lock while it decides, so that
// returned, which decides without it, never uncounts before it counted.
func (r *attemptRun) abandon() {
	if r.fate.Load() != runRunning {
		return // returned in time (the common case), or counted already
	}
	a := r.tc.m.abandoned
	a.mu.Lock()
	won := r.fate.CompareAndSwap(runRunning, runAbandoned)
	a.mu.Unlock()
	if !won {
		return
	}
	if reason := a.add(r.tc.kind); reason != "" {
		r.tc.m.log.Warn("abandoned attempts at their cap: a handler ignores its context; attempts wait", "kind", r.tc.kind, "reason", reason)
	}
}

// waitForCapacity holds an attempt about to start (p is stepStart or
// stepRun) while its kind or this member is at its cap of abandoned
// attempts: the task is written waiting, with the reason and the previous
// attempt's failure if p has one, and its actor is woken (a startAttempt,
// as from a backoff timer) when abandoned attempts return, or at the
// task's deadline, which then fails it. It reports whether it held.
//
// A waiting task stays with its owner: placement moves a task only when
// its owner leaves the cluster. A member restarted by its operator (the
// remedy for handlers that never return) resumes it at once.
func (a *taskActor) waitForCapacity(p plan) bool {
	if (p.step != stepStart && p.step != stepRun) || a.kind == nil {
		return false
	}
	kind := a.kind.Name()
	reason := a.m.abandoned.blocked(kind)
	if reason == "" {
		return false
	}
	st := a.rec.Task.GetStatus()
	if st.GetWaiting() == "" || p.entry != nil || p.step == stepRun {
		if err := a.write(func(t *messages.Task) { waitStatus(t.Status, p, reason, a.m.now()) }); err != nil {
			a.writeFailed("wait for abandoned attempts", err)
			return true
		}
		a.logger().Info("attempt waits for abandoned attempts to return", "kind", kind, "reason", reason)
	}
	after := int(a.rec.Task.GetStatus().GetAttempts())
	if !a.m.abandoned.wait(kind, a.id, abandonWaiter{pid: a.self, after: after}) {
		a.c().Send(a.self, &startAttempt{after: after}) // some returned meanwhile
		return true
	}
	if dl := a.deadline(); !dl.IsZero() {
		a.scheduleAt(dl)
	}
	return true
}

// waitStatus is the status change of a due attempt that waits (p is the
// plan it would have started with): p's failure is recorded; an attempt
// counted but never started (stepRun: created claimed and running) is
// uncounted, the task pending; one lost with its member leaves the task
// retrying, due now.
func waitStatus(st *messages.TaskStatus, p plan, reason string, now time.Time) {
	if p.entry != nil {
		st.Errors = append(st.Errors, p.entry)
	}
	switch {
	case p.step == stepRun:
		st.State, st.Attempts, st.StartedAt = messages.TaskState_TASK_STATE_PENDING, st.GetAttempts()-1, nil
	case st.GetState() == messages.TaskState_TASK_STATE_RUNNING:
		st.State, st.NextAttemptAt = messages.TaskState_TASK_STATE_RETRYING, timestamppb.New(now)
	}
	st.Waiting = reason
}
