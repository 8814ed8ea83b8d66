package supervisor

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var jt0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// jobStep is one event of a scenario and what must come out of it.
type jobStep struct {
	ev JobEvent
	// want are the effects, timers left out, as JobEffect.String says.
	want  []string
	phase JobPhase
}

func started(id string) JobEvent { return JobEvent{Kind: EventStarted, Child: JobChild{ID: id}} }
func completedEv(id string) JobEvent {
	return JobEvent{Kind: EventExited, Child: JobChild{ID: id}, Exit: ExitCompleted}
}
func terminated(id string) JobEvent {
	return JobEvent{Kind: EventExited, Child: JobChild{ID: id}, Exit: ExitTerminated}
}
func failedEv(id string) JobEvent {
	return JobEvent{Kind: EventExited, Child: JobChild{ID: id}, Exit: ExitFailed, Failure: Failure{Cause: CauseError, Err: errors.New("boom")}}
}
func stopEv() JobEvent { return JobEvent{Kind: EventStop, Reason: "stop", Final: FinalCancelled} }

// newJob returns a running job of three transient tasks a, b, c in stages
// 0, 1, 2 under strategy with budget max restarts in a minute.
func newJob(t *testing.T, cfg JobConfig, children ...JobChild) *JobMachine {
	t.Helper()
	if cfg.ID == "" {
		cfg.ID = "j"
	}
	if children == nil {
		children = []JobChild{{ID: "a", Restart: Transient}, {ID: "b", Stage: 1, Restart: Transient}, {ID: "c", Stage: 2, Restart: Transient}}
	}
	m, err := NewJobMachine(cfg, JobState{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		if r := m.Step(JobEvent{Kind: EventAdded, Child: c}, jt0); !r.Persist && !r.Lazy || len(r.Effects) != 0 {
			t.Fatalf("adding %s: %+v", c.ID, r)
		}
	}
	return m
}

// sweptNone answers a sweep that r asks for, if any, with no strays, and
// returns r with the answer's outcome folded in (a scenario that is not
// about sweeps: every child is known).
func sweptNone(m *JobMachine, r Ready, now time.Time) Ready {
	i := slices.IndexFunc(r.Effects, func(e JobEffect) bool { return e.Kind == EffectSweep })
	if i < 0 {
		return r
	}
	r.Effects = slices.Delete(r.Effects, i, i+1)
	s := m.Step(JobEvent{Kind: EventSwept}, now)
	if s.Persist {
		r.Persist, r.State = true, s.State
	}
	r.Effects = append(r.Effects, s.Effects...)
	return r
}

func effectsOf(r Ready) []string {
	var out []string
	for _, e := range r.Effects {
		if e.Kind != EffectTimer {
			out = append(out, e.String())
		}
	}
	return out
}

func runJob(t *testing.T, m *JobMachine, steps []jobStep) {
	t.Helper()
	now := jt0
	persisted := m.State()
	for i, s := range steps {
		now = now.Add(time.Millisecond)
		if s.ev.Kind == EventExited && s.ev.Exit == ExitTerminated && s.ev.Child.Round == 0 {
			s.ev.Child.Round = m.State().Round // the answer to the terminate in progress
		}
		r := m.Step(s.ev, now)
		if !slices.Contains(s.want, "sweep") {
			r = sweptNone(m, r, now)
		}
		if got := effectsOf(r); !slices.Equal(got, s.want) {
			t.Fatalf("step %d (%s %s): effects %q, want %q", i, s.ev.Kind, s.ev.Child.ID, got, s.want)
		}
		if r.Persist {
			persisted = r.State
		}
		for _, e := range r.Effects {
			if (e.Kind == EffectStart || e.Kind == EffectTerminate) && e.Round > persisted.Round {
				t.Fatalf("step %d: %s of round %d before that round's decision was persisted (%d)", i, e, e.Round, persisted.Round)
			}
		}
		if m.State().Phase != s.phase {
			t.Fatalf("step %d (%s %s): phase %s, want %s", i, s.ev.Kind, s.ev.Child.ID, m.State().Phase, s.phase)
		}
	}
}

func statuses(m *JobMachine) string {
	var b strings.Builder
	for _, c := range m.State().Children {
		b.WriteString(c.ID + "=" + c.Status.String() + " ")
	}
	return strings.TrimSpace(b.String())
}

var budget3 = Budget{MaxRestarts: 3, Period: time.Minute}

func TestJobExitedRestartsPerStrategy(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   JobConfig
		steps []jobStep
	}{
		{"one_for_one restarts only the failed child", JobConfig{Strategy: OneForOne, Budget: budget3}, []jobStep{
			{failedEv("b"), []string{"start b round=1"}, PhaseRestarting},
			{started("b"), nil, PhaseRunning},
		}},
		{"one_for_all terminates the rest in reverse start order, then starts all in start order", JobConfig{Strategy: OneForAll, Budget: budget3}, []jobStep{
			{failedEv("a"), []string{"terminate c final=none"}, PhaseRestarting},
			{terminated("c"), []string{"terminate b final=none"}, PhaseRestarting},
			{terminated("b"), []string{"start a round=1"}, PhaseRestarting},
			{started("a"), []string{"start b round=1"}, PhaseRestarting},
			{started("b"), []string{"start c round=1"}, PhaseRestarting},
			{started("c"), nil, PhaseRunning},
		}},
		{"rest_for_one restarts the later stages", JobConfig{Strategy: RestForOne, Budget: budget3}, []jobStep{
			{failedEv("b"), []string{"terminate c final=none"}, PhaseRestarting},
			{terminated("c"), []string{"start b round=1"}, PhaseRestarting},
			{started("b"), []string{"start c round=1"}, PhaseRestarting},
			{started("c"), nil, PhaseRunning},
		}},
		{"a permanent child that completes is restarted", JobConfig{Strategy: OneForOne, Budget: budget3}, []jobStep{
			{JobEvent{Kind: EventAdded, Child: JobChild{ID: "p", Stage: 3, Restart: Permanent}}, nil, PhaseRunning},
			{completedEv("p"), []string{"start p round=1"}, PhaseRestarting},
			{started("p"), nil, PhaseRunning},
		}},
		{"a transient child that completes is not; all done completes the job", JobConfig{Strategy: OneForAll, Budget: budget3}, []jobStep{
			{completedEv("a"), nil, PhaseRunning},
			{completedEv("c"), nil, PhaseRunning},
			{completedEv("b"), []string{"finished"}, PhaseDone},
		}},
		{"a completed child is not run again by a group restart", JobConfig{Strategy: OneForAll, Budget: budget3}, []jobStep{
			{completedEv("a"), nil, PhaseRunning},
			{failedEv("c"), []string{"terminate b final=none"}, PhaseRestarting},
			{terminated("b"), []string{"start b round=1"}, PhaseRestarting},
			{started("b"), []string{"start c round=1"}, PhaseRestarting},
			{started("c"), nil, PhaseRunning},
		}},
		{"a cancelled child is not restarted", JobConfig{Strategy: OneForAll, Budget: budget3}, []jobStep{
			{JobEvent{Kind: EventExited, Child: JobChild{ID: "b"}, Exit: ExitCancelled}, nil, PhaseRunning},
		}},
		{"budget spent: terminate all in reverse order, the failed child marked failed, then fail", JobConfig{Strategy: OneForOne}, []jobStep{
			{failedEv("b"), []string{"terminate c final=cancelled"}, PhaseShuttingDown},
			{terminated("c"), []string{"terminate b final=failed"}, PhaseShuttingDown},
			{terminated("b"), []string{"terminate a final=cancelled"}, PhaseShuttingDown},
			{terminated("a"), []string{"finished"}, PhaseDone},
		}},
		{"a permanent error fails the job at once", JobConfig{Strategy: OneForOne, Budget: budget3}, []jobStep{
			{JobEvent{Kind: EventExited, Child: JobChild{ID: "c"}, Exit: ExitFailed, Failure: Failure{Cause: CauseError, Err: wrappedPermanent()}},
				[]string{"terminate c final=failed"}, PhaseShuttingDown},
			{terminated("c"), []string{"terminate b final=cancelled"}, PhaseShuttingDown},
		}},
		{"a temporary child's failure neither restarts, counts nor escalates", JobConfig{Strategy: OneForAll}, []jobStep{
			{JobEvent{Kind: EventAdded, Child: JobChild{ID: "t", Stage: 3, Restart: Temporary}}, nil, PhaseRunning},
			{failedEv("t"), nil, PhaseRunning},
		}},
		{"a temporary sibling in a group restart is terminated for good", JobConfig{Strategy: OneForAll, Budget: budget3}, []jobStep{
			{JobEvent{Kind: EventAdded, Child: JobChild{ID: "t", Stage: 3, Restart: Temporary}}, nil, PhaseRunning},
			{failedEv("c"), []string{"terminate t final=cancelled"}, PhaseRestarting},
			{terminated("t"), []string{"terminate b final=none"}, PhaseRestarting},
			{terminated("b"), []string{"terminate a final=none"}, PhaseRestarting},
			{terminated("a"), []string{"start a round=1"}, PhaseRestarting},
			{started("a"), []string{"start b round=1"}, PhaseRestarting},
			{started("b"), []string{"start c round=1"}, PhaseRestarting},
			{started("c"), nil, PhaseRunning},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			runJob(t, newJob(t, c.cfg), c.steps)
		})
	}
}

// TestJobAbsorbsExitsItCaused: two children failing in one incident cost
// one restart (issue 20, point 3).
func TestJobAbsorbsExitsItCaused(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForAll, Budget: budget3})
	runJob(t, m, []jobStep{
		{failedEv("b"), []string{"terminate c final=none"}, PhaseRestarting},
		{failedEv("a"), nil, PhaseRestarting}, // a was to be terminated: absorbed
		{failedEv("c"), []string{"start a round=1"}, PhaseRestarting},
		{started("a"), []string{"start b round=1"}, PhaseRestarting},
		{started("b"), []string{"start c round=1"}, PhaseRestarting},
		{started("c"), nil, PhaseRunning},
	})
	if st := m.State(); st.RestartCount != 1 || st.Round != 1 {
		t.Fatalf("restarts %d round %d, want 1 and 1", st.RestartCount, st.Round)
	}
}

// TestJobDefersExitsOutsideTheRestart: an exit outside the restart in
// progress is decided after it, as OTP's supervisor takes one message at a
// time.
func TestJobDefersExitsOutsideTheRestart(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne, Budget: budget3})
	runJob(t, m, []jobStep{
		{failedEv("a"), []string{"start a round=1"}, PhaseRestarting},
		{failedEv("c"), nil, PhaseRestarting},
		{started("a"), []string{"start c round=2"}, PhaseRestarting},
		{started("c"), nil, PhaseRunning},
	})
}

func TestJobIgnoresStaleAndRepeatedReports(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne, Budget: budget3})
	runJob(t, m, []jobStep{
		{failedEv("a"), []string{"start a round=1"}, PhaseRestarting},
		{failedEv("a"), nil, PhaseRestarting}, // the same report again
		{started("b"), nil, PhaseRestarting},  // not the start in progress
		{started("a"), nil, PhaseRunning},
		{failedEv("a"), nil, PhaseRunning}, // round 0: the previous incarnation's
		{JobEvent{Kind: EventExited, Child: JobChild{ID: "a", Round: 1}, Exit: ExitFailed, Failure: Failure{Err: errors.New("x")}}, []string{"start a round=2"}, PhaseRestarting},
	})
}

func TestJobBudgetWindow(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne, Budget: Budget{MaxRestarts: 1, Period: time.Second}})
	if got := effectsOf(m.Step(failedEv("a"), jt0)); !slices.Equal(got, []string{"start a round=1"}) {
		t.Fatalf("first failure: %q", got)
	}
	m.Step(started("a"), jt0)
	// Past the window the budget is whole again.
	r := m.Step(JobEvent{Kind: EventExited, Child: JobChild{ID: "a", Round: 1}, Exit: ExitFailed}, jt0.Add(2*time.Second))
	if got := effectsOf(r); !slices.Equal(got, []string{"start a round=2"}) {
		t.Fatalf("failure after the window: %q", got)
	}
	m.Step(started("a"), jt0.Add(2*time.Second))
	r = m.Step(JobEvent{Kind: EventExited, Child: JobChild{ID: "a", Round: 2}, Exit: ExitFailed}, jt0.Add(2500*time.Millisecond))
	if got := effectsOf(r); !slices.Equal(got, []string{"sweep", "terminate c final=cancelled"}) || !strings.Contains(m.State().Cause, "budget exhausted") {
		t.Fatalf("failure inside the window: %q, cause %q", got, m.State().Cause)
	}
}

func TestJobStop(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   JobConfig
		pre   []jobStep
		steps []jobStep
	}{
		{"stops children first in reverse start order, then tells the parent", JobConfig{Strategy: OneForOne, HasParent: true}, nil, []jobStep{
			{stopEv(), []string{"terminate c final=cancelled"}, PhaseShuttingDown},
			{terminated("c"), []string{"terminate b final=cancelled"}, PhaseShuttingDown},
			{stopEv(), nil, PhaseShuttingDown},
			{terminated("b"), []string{"terminate a final=cancelled"}, PhaseShuttingDown},
			{terminated("a"), []string{"notify_parent cancelled", "finished"}, PhaseDone},
			{stopEv(), []string{"notify_parent cancelled", "finished"}, PhaseDone},
		}},
		{"a stop during a restart finalizes the children already stopped", JobConfig{Strategy: OneForAll, Budget: budget3}, []jobStep{
			{failedEv("b"), []string{"terminate c final=none"}, PhaseRestarting},
		}, []jobStep{
			{stopEv(), []string{"terminate c final=cancelled"}, PhaseShuttingDown},
			{terminated("c"), []string{"terminate b final=cancelled"}, PhaseShuttingDown},
			{terminated("b"), []string{"terminate a final=cancelled"}, PhaseShuttingDown},
			{terminated("a"), []string{"finished"}, PhaseDone},
		}},
		{"an empty job stops at once", JobConfig{}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newJob(t, c.cfg)
			if c.steps == nil {
				m = newJob(t, c.cfg, []JobChild{}...)
				c.steps = []jobStep{{stopEv(), []string{"finished"}, PhaseDone}}
			}
			runJob(t, m, c.pre)
			runJob(t, m, c.steps)
			if m.State().End != EndStopped {
				t.Fatalf("end %s, want stopped", m.State().End)
			}
		})
	}
}

func TestJobAutoShutdown(t *testing.T) {
	sig := []JobChild{{ID: "a", Restart: Transient, Significant: true}, {ID: "b", Stage: 1, Restart: Transient, Significant: true}, {ID: "c", Stage: 2, Restart: Transient}}
	for _, c := range []struct {
		name  string
		auto  AutoShutdown
		steps []jobStep
	}{
		{"never", AutoNever, []jobStep{{completedEv("a"), nil, PhaseRunning}, {completedEv("b"), nil, PhaseRunning}}},
		{"any_significant", AutoAnySignificant, []jobStep{
			{completedEv("a"), []string{"terminate c final=cancelled"}, PhaseShuttingDown},
			{terminated("c"), []string{"terminate b final=cancelled"}, PhaseShuttingDown},
			{terminated("b"), []string{"finished"}, PhaseDone},
		}},
		{"all_significant", AutoAllSignificant, []jobStep{
			{completedEv("a"), nil, PhaseRunning},
			{JobEvent{Kind: EventExited, Child: JobChild{ID: "b"}, Exit: ExitCancelled}, []string{"terminate c final=cancelled"}, PhaseShuttingDown},
			{terminated("c"), []string{"finished"}, PhaseDone},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newJob(t, JobConfig{Strategy: OneForOne, AutoShutdown: c.auto}, sig...)
			runJob(t, m, c.steps)
			if m.State().Phase == PhaseDone && m.State().End != EndCompleted {
				t.Fatalf("end %s, want completed", m.State().End)
			}
		})
	}
}

// TestJobNested: a child job's failure is one child failure of its parent,
// which restarts the subtree (terminate = stop it, start = run it again).
func TestJobNested(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForAll, Budget: budget3}, JobChild{ID: "sub", Job: true, Restart: Transient}, JobChild{ID: "t", Stage: 1, Restart: Transient})
	runJob(t, m, []jobStep{
		{failedEv("sub"), []string{"terminate t final=none"}, PhaseRestarting},
		{terminated("t"), []string{"start sub round=1"}, PhaseRestarting},
	})
	// The child that gives up tells its parent once, as a failure.
	// Its children wait, stopped, for the parent to start the subtree
	// again (fresh budget) or to stop it for good.
	sub := newJob(t, JobConfig{ID: "sub", HasParent: true})
	runJob(t, sub, []jobStep{
		{failedEv("a"), []string{"terminate c final=none"}, PhaseShuttingDown},
		{terminated("c"), []string{"terminate b final=none"}, PhaseShuttingDown},
		{terminated("b"), []string{"notify_parent failed", "finished"}, PhaseDone},
		{JobEvent{Kind: EventStart}, []string{"start a round=2"}, PhaseRestarting},
		{started("a"), []string{"start b round=2"}, PhaseRestarting},
		{started("b"), []string{"start c round=2"}, PhaseRestarting},
		{started("c"), nil, PhaseRunning},
		{JobEvent{Kind: EventStart}, nil, PhaseRunning},
		// The parent restarts its group: this job's children stop, held.
		{JobEvent{Kind: EventStop, Final: FinalNone}, []string{"terminate c final=none"}, PhaseShuttingDown},
		{terminated("c"), []string{"terminate b final=none"}, PhaseShuttingDown},
		{terminated("b"), []string{"terminate a final=none"}, PhaseShuttingDown},
		{terminated("a"), []string{"notify_parent cancelled", "finished"}, PhaseDone},
		// Then the parent gives up: the held children are made final.
		{stopEv(), []string{"terminate c final=cancelled"}, PhaseShuttingDown},
		{terminated("c"), []string{"terminate b final=cancelled"}, PhaseShuttingDown},
		{terminated("b"), []string{"terminate a final=cancelled"}, PhaseShuttingDown},
		{terminated("a"), []string{"notify_parent cancelled", "finished"}, PhaseDone},
		{stopEv(), []string{"notify_parent cancelled", "finished"}, PhaseDone},
	})
	if st := sub.State(); st.End != EndStopped || st.RestartCount != 0 {
		t.Fatalf("end %s restarts %d", st.End, st.RestartCount)
	}
}

func TestJobTickAndResumeResend(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForAll, Budget: budget3, Shutdown: time.Second})
	r := m.Step(failedEv("a"), jt0)
	var timer time.Time
	for _, e := range r.Effects {
		if e.Kind == EffectTimer {
			timer = e.At
		}
	}
	if want := jt0.Add(time.Second + ResendAfter); !timer.Equal(want) {
		t.Fatalf("timer at %v, want %v", timer, want)
	}
	if got := effectsOf(m.Step(JobEvent{Kind: EventTick}, timer.Add(-time.Millisecond))); got != nil {
		t.Fatalf("early tick: %q", got)
	}
	if got := effectsOf(m.Step(JobEvent{Kind: EventTick}, timer)); !slices.Equal(got, []string{"terminate c final=none"}) {
		t.Fatalf("overdue tick: %q", got)
	}
	// A new owner rebuilds the machine from the persisted state and sends
	// the effect in progress again.
	m2, err := NewJobMachine(m.Config(), m.State())
	if err != nil {
		t.Fatal(err)
	}
	if got := effectsOf(m2.Resume(timer)); !slices.Equal(got, []string{"terminate c final=none"}) {
		t.Fatalf("resume: %q", got)
	}
	runJob(t, m2, []jobStep{
		{terminated("c"), []string{"terminate b final=none"}, PhaseRestarting},
		{terminated("b"), []string{"start a round=1"}, PhaseRestarting},
	})
}

func TestJobAddedReopensACompletedJob(t *testing.T) {
	m := newJob(t, JobConfig{}, JobChild{ID: "a", Restart: Transient})
	runJob(t, m, []jobStep{
		{completedEv("a"), []string{"finished"}, PhaseDone},
		{JobEvent{Kind: EventAdded, Child: JobChild{ID: "b", Restart: Transient}}, nil, PhaseRunning},
		{completedEv("b"), []string{"finished"}, PhaseDone},
	})
	failedJob := newJob(t, JobConfig{}, JobChild{ID: "a", Restart: Transient})
	runJob(t, failedJob, []jobStep{
		{failedEv("a"), []string{"terminate a final=failed"}, PhaseShuttingDown},
		{terminated("a"), []string{"finished"}, PhaseDone},
		{JobEvent{Kind: EventAdded, Child: JobChild{ID: "b"}}, []string{"terminate b final=cancelled"}, PhaseDone}, // refused
	})
	if n := len(failedJob.State().Children); n != 1 {
		t.Fatalf("a failed job took a child: %d children", n)
	}
}

// TestJobEndedRefusesLateChildren: news of a child that joined a job as it
// ended comes after the end. A child job declared under a failed or
// stopped job is stopped (it ran on, orphaned, in the chaos campaign); a
// task's exit reaching a job that completed reopens it to decide the exit
// (it was dropped: the task stayed held for good); one reaching a failed
// or stopped root job is made final; one reaching a failed child job
// waits, held, with its siblings, for the parent to start the subtree.
func TestJobEndedRefusesLateChildren(t *testing.T) {
	stopped := newJob(t, JobConfig{}, JobChild{ID: "a", Restart: Transient})
	runJob(t, stopped, []jobStep{
		{stopEv(), []string{"terminate a final=cancelled"}, PhaseShuttingDown},
		{terminated("a"), []string{"finished"}, PhaseDone},
		{JobEvent{Kind: EventAdded, Child: JobChild{ID: "kid", Job: true}}, []string{"terminate kid final=cancelled"}, PhaseDone},
		{failedEv("late"), []string{"terminate late final=cancelled"}, PhaseDone},
		{JobEvent{Kind: EventExited, Child: JobChild{ID: "late"}, Exit: ExitTerminated}, nil, PhaseDone}, // the refusal's answer
	})
	completed := newJob(t, JobConfig{Strategy: OneForOne, Budget: budget3}, JobChild{ID: "a", Restart: Transient})
	runJob(t, completed, []jobStep{
		{completedEv("a"), []string{"finished"}, PhaseDone},
		{failedEv("late"), []string{"start late round=1"}, PhaseRestarting},
	})
	child := newJob(t, JobConfig{HasParent: true}, JobChild{ID: "a", Restart: Transient})
	runJob(t, child, []jobStep{
		{failedEv("a"), []string{"notify_parent failed", "finished"}, PhaseDone},
		{failedEv("late"), []string{"terminate late final=none"}, PhaseDone},
		{JobEvent{Kind: EventStart}, []string{"start a round=2"}, PhaseRestarting},
		{started("a"), []string{"start late round=2"}, PhaseRestarting},
	})
}

func TestJobUnknownChildExitJoins(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne, Budget: budget3})
	runJob(t, m, []jobStep{{failedEv("z"), []string{"start z round=1"}, PhaseRestarting}})
	if got := statuses(m); got != "a=running z=stopped b=running c=running" {
		t.Fatalf("statuses %s", got)
	}
}

func TestJobConfigValidate(t *testing.T) {
	for _, c := range []JobConfig{{Strategy: 9}, {Shutdown: -1}, {AutoShutdown: 7}, {Budget: Budget{Period: -1}}} {
		if _, err := NewJobMachine(c, JobState{}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := NewJobMachine(JobConfig{}, JobState{Children: []JobChild{{ID: "a"}, {ID: "a"}}}); !errors.Is(err, ErrDuplicateChild) {
		t.Errorf("duplicate child: %v", err)
	}
	for _, s := range []string{"", "never", "any-significant", "ALL_SIGNIFICANT"} {
		if _, err := ParseAutoShutdown(s); err != nil {
			t.Errorf("ParseAutoShutdown(%q): %v", s, err)
		}
	}
	if _, err := ParseAutoShutdown("sometimes"); !errors.Is(err, ErrUnknownAutoShutdown) {
		t.Errorf("ParseAutoShutdown(sometimes): %v", err)
	}
}

// TestJobChildJobRunsAgainAfterItCompleted: a child job that completed and
// told its parent so runs again (a task joined it) and then fails: the
// parent, done since, takes the failure and restarts it (it ignored it as
// a report sent twice; the campaign found the subtree's failure reached
// no one, its tasks held for good).
func TestJobChildJobRunsAgainAfterItCompleted(t *testing.T) {
	kid := JobChild{ID: "kid", Job: true, Restart: Transient}
	m := newJob(t, JobConfig{Strategy: OneForOne, Budget: budget3}, kid)
	failed := JobEvent{Kind: EventExited, Child: JobChild{ID: "kid", Job: true, Round: 1<<64 - 1}, Exit: ExitFailed, Failure: Failure{Cause: CauseError, Err: errors.New("boom")}}
	completed := failed
	completed.Exit, completed.Failure = ExitCompleted, Failure{}
	runJob(t, m, []jobStep{
		{completed, []string{"finished"}, PhaseDone},
		{completed, nil, PhaseDone}, // a report sent twice
		{failed, []string{"start kid round=1"}, PhaseRestarting},
	})
}

// TestJobRestartKeepsATaskThatCompletedAsItWasTerminated: in a one_for_all
// restart, a sibling completes as its terminate reaches it: it keeps its
// result and is not started again (the start of a completed task was
// refused, and the restart asked again forever).
func TestJobRestartKeepsATaskThatCompletedAsItWasTerminated(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForAll, Budget: budget3})
	runJob(t, m, []jobStep{
		{failedEv("a"), []string{"terminate c final=none"}, PhaseRestarting},
		{terminated("c"), []string{"terminate b final=none"}, PhaseRestarting},
		{JobEvent{Kind: EventExited, Child: JobChild{ID: "b", Round: 1}, Exit: ExitCompleted}, []string{"start a round=1"}, PhaseRestarting},
		{started("a"), []string{"start c round=1"}, PhaseRestarting},
	})
	if got := statuses(m); got != "a=running b=completed c=stopped" {
		t.Fatalf("statuses %s", got)
	}
}

// TestJobChildJobsLateExitIsNotANewFailure: a child job's exit carries the
// round of its parent's start of its incarnation (0 for its first), as a
// task's does, so a report of an earlier incarnation that comes late (sent
// twice, or again by the child job's next owner) is not taken for a new
// failure of the one running now: one incident, one restart. Before,
// child jobs reported with no round, and every such report restarted the
// subtree again.
func TestJobChildJobsLateExitIsNotANewFailure(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForOne, Budget: budget3}, JobChild{ID: "kid", Job: true, Restart: Transient})
	failedIn := func(round uint64) JobEvent {
		return JobEvent{Kind: EventExited, Child: JobChild{ID: "kid", Job: true, Round: round}, Exit: ExitFailed, Failure: Failure{Cause: CauseError, Err: errors.New("boom")}}
	}
	runJob(t, m, []jobStep{
		{failedIn(0), []string{"start kid round=1"}, PhaseRestarting},
		{started("kid"), nil, PhaseRunning},
		{failedIn(0), nil, PhaseRunning}, // the first incarnation's report again
		{failedIn(1), []string{"start kid round=2"}, PhaseRestarting},
		{started("kid"), nil, PhaseRunning},
		// A report that numbers no incarnation (an older member's) is
		// taken as news.
		{failedIn(UnknownRound), []string{"start kid round=3"}, PhaseRestarting},
	})
	if st := m.State(); st.RestartCount != 3 {
		t.Fatalf("restarts %d; want 3", st.RestartCount)
	}
}

// TestJobStartRecordsItsParentsRound: a child job records the round of its
// parent's start (ParentRound, which its exits carry). A start while it
// runs changes nothing; a start of the round it ran in already, after it
// was stopped again, starts it again: a new owner of the parent resumes
// the round's restart from its record, stopping and starting it again (the
// campaign found a child job ignoring that start, its tasks held for good).
func TestJobStartRecordsItsParentsRound(t *testing.T) {
	sub := newJob(t, JobConfig{ID: "sub", HasParent: true})
	startIn := func(round uint64) JobEvent {
		return JobEvent{Kind: EventStart, Child: JobChild{ID: "sub", Job: true, Round: round}}
	}
	runJob(t, sub, []jobStep{
		{failedEv("a"), []string{"terminate c final=none"}, PhaseShuttingDown},
		{terminated("c"), []string{"terminate b final=none"}, PhaseShuttingDown},
		{terminated("b"), []string{"notify_parent failed", "finished"}, PhaseDone},
		{startIn(1), []string{"start a round=2"}, PhaseRestarting},
		{started("a"), []string{"start b round=2"}, PhaseRestarting},
		{started("b"), []string{"start c round=2"}, PhaseRestarting},
		{started("c"), nil, PhaseRunning},
	})
	if pr := sub.State().ParentRound; pr != 1 {
		t.Fatalf("ParentRound %d; want 1", pr)
	}
	runJob(t, sub, []jobStep{
		{JobEvent{Kind: EventStop, Final: FinalNone}, []string{"terminate c final=none"}, PhaseShuttingDown},
		{terminated("c"), []string{"terminate b final=none"}, PhaseShuttingDown},
		{terminated("b"), []string{"terminate a final=none"}, PhaseShuttingDown},
		{terminated("a"), []string{"notify_parent cancelled", "finished"}, PhaseDone},
		{startIn(1), []string{"start a round=4"}, PhaseRestarting}, // the round resumed by a new owner
		{started("a"), []string{"start b round=4"}, PhaseRestarting},
		{startIn(1), nil, PhaseRestarting}, // sent again: it runs
		{started("b"), []string{"start c round=4"}, PhaseRestarting},
		{started("c"), nil, PhaseRunning},
		{JobEvent{Kind: EventStop, Final: FinalNone}, []string{"terminate c final=none"}, PhaseShuttingDown},
		{terminated("c"), []string{"terminate b final=none"}, PhaseShuttingDown},
		{terminated("b"), []string{"terminate a final=none"}, PhaseShuttingDown},
		{terminated("a"), []string{"notify_parent cancelled", "finished"}, PhaseDone},
		{startIn(2), []string{"start a round=6"}, PhaseRestarting},
	})
	if pr := sub.State().ParentRound; pr != 2 {
		t.Fatalf("ParentRound %d; want 2", pr)
	}
}

// TestJobShutdownTerminatesAChildWhoseStartIsInFlight: a job stopped (its
// children left held, for its parent's group restart) while the start of
// a child is in flight terminates that child too: the start may have been
// applied. Before, the child counted as stopped, the shutdown skipped it,
// and it ran on under a job that had ended (the campaign's
// child-of-ended-job, seed 1796623584572486896: tree-00265-b0).
func TestJobShutdownTerminatesAChildWhoseStartIsInFlight(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForAll, Budget: budget3})
	runJob(t, m, []jobStep{
		{failedEv("a"), []string{"terminate c final=none"}, PhaseRestarting},
		{terminated("c"), []string{"terminate b final=none"}, PhaseRestarting},
		{terminated("b"), []string{"start a round=1"}, PhaseRestarting},
		{JobEvent{Kind: EventStop, Final: FinalNone, Reason: "its parent restarts"}, []string{"sweep", "terminate a final=none"}, PhaseShuttingDown},
		{JobEvent{Kind: EventExited, Child: JobChild{ID: "a", Round: 2}, Exit: ExitTerminated}, nil, PhaseShuttingDown},
	})
	if got := statuses(m); got != "a=stopped b=stopped c=stopped" {
		t.Fatalf("children %s", got)
	}
}

// TestJobChildFailsAfterItsStartAsTheJobShutsDown: the child whose start
// is in flight as the job shuts down starts, then fails, and its failure
// comes before the answer to its terminate. It is not an answer to the
// start (the start is moot: the job shuts down) nor to the terminate, and
// the job waits for the terminate's own answer.
func TestJobChildFailsAfterItsStartAsTheJobShutsDown(t *testing.T) {
	m := newJob(t, JobConfig{Strategy: OneForAll, Budget: budget3})
	failedRound1 := failedEv("a")
	failedRound1.Child.Round = 1
	runJob(t, m, []jobStep{
		{failedEv("a"), []string{"terminate c final=none"}, PhaseRestarting},
		{terminated("c"), []string{"terminate b final=none"}, PhaseRestarting},
		{terminated("b"), []string{"start a round=1"}, PhaseRestarting},
		{JobEvent{Kind: EventStop, Final: FinalNone, Reason: "its parent restarts"}, []string{"sweep", "terminate a final=none"}, PhaseShuttingDown},
		{failedRound1, nil, PhaseShuttingDown},
		{JobEvent{Kind: EventExited, Child: JobChild{ID: "a", Round: 2}, Exit: ExitTerminated}, nil, PhaseShuttingDown},
	})
	if got := statuses(m); got != "a=stopped b=stopped c=stopped" {
		t.Fatalf("children %s", got)
	}
}

// TestJobExitOfAChildWhoseStartIsNotDueYet: a new owner resumed a
// rest_for_one restart of child job a from the record written when it
// began (terminates of t then b to come, then starts of a, b, t), while
// the previous owner had gone on and started a in that round, which has
// completed since. a's exit (of this round) comes before any of the
// restart's answers: it is not the answer to a start the machine has not
// sent, and it is decided once the restart has started a. The campaign's
// member died of this event: the machine took it for the start's answer,
// which a restart still terminating does not apply, and called itself
// until the stack ran out.
func TestJobExitOfAChildWhoseStartIsNotDueYet(t *testing.T) {
	st := JobState{
		Phase: PhaseRestarting,
		Round: 1,
		Children: []JobChild{
			{ID: "a", Job: true, Restart: Transient, Status: ChildStopped, Restarts: 1},
			{ID: "b", Job: true, Stage: 1, Restart: Transient, Status: ChildRunning},
			{ID: "t", Stage: 2, Restart: Transient, Status: ChildRunning},
		},
		Terminate: []Termination{{ID: "t", Reason: "restart"}, {ID: "b", Reason: "restart"}},
		Start:     []string{"a", "b", "t"},
	}
	m, err := NewJobMachine(JobConfig{ID: "j", Strategy: RestForOne, Budget: budget3, Shutdown: time.Second}, st)
	if err != nil {
		t.Fatal(err)
	}
	aDone := JobEvent{Kind: EventExited, Child: JobChild{ID: "a", Job: true, Round: 1}, Exit: ExitCompleted}
	runJob(t, m, []jobStep{
		{aDone, nil, PhaseRestarting},
		{JobEvent{Kind: EventExited, Child: JobChild{ID: "t", Round: 1}, Exit: ExitTerminated}, []string{"terminate b final=none"}, PhaseRestarting},
		{JobEvent{Kind: EventExited, Child: JobChild{ID: "b", Job: true, Round: 1}, Exit: ExitTerminated}, []string{"start a round=1"}, PhaseRestarting},
		{JobEvent{Kind: EventStarted, Child: JobChild{ID: "a", Job: true}}, []string{"start b round=1"}, PhaseRestarting},
		{JobEvent{Kind: EventStarted, Child: JobChild{ID: "b", Job: true}}, []string{"start t round=1"}, PhaseRestarting},
		{started("t"), nil, PhaseRunning},
	})
	if got := statuses(m); got != "a=completed b=running t=running" {
		t.Fatalf("children %s; want a's completion decided once it started", got)
	}
}
