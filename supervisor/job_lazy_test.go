package supervisor

import "testing"

// A task joining a running job is a lazy step (Ready.Lazy): its record
// tells a rebuilt machine of it. Everything else a join changes is
// persisted before its effects: a child job joining, a job that had
// completed running again, a join during a shutdown (a terminate to come)
// or a restart.
func TestJobJoinIsLazyOnlyForATaskOfARunningJob(t *testing.T) {
	task := func(id string) JobEvent {
		return JobEvent{Kind: EventAdded, Child: JobChild{ID: id, Restart: Transient}}
	}
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T) *JobMachine
		ev      JobEvent
		lazy    bool
	}{
		{"the first task of a new job", func(t *testing.T) *JobMachine { return newJob(t, JobConfig{}, JobChild{ID: "a"}) }, task("b"), true},
		{"a task of a running job", func(t *testing.T) *JobMachine { return newJob(t, JobConfig{}) }, task("d"), true},
		{"a task known already", func(t *testing.T) *JobMachine { return newJob(t, JobConfig{}) }, task("a"), false},
		{"a child job", func(t *testing.T) *JobMachine { return newJob(t, JobConfig{}) },
			JobEvent{Kind: EventAdded, Child: JobChild{ID: "j2", Job: true, Restart: Transient}}, false},
		{"a task of a job that had completed", func(t *testing.T) *JobMachine {
			m := newJob(t, JobConfig{}, JobChild{ID: "a", Restart: Transient})
			if r := m.Step(completedEv("a"), jt0); !r.Persist || r.State.Phase != PhaseDone {
				t.Fatalf("completing the only child: %+v", r)
			}
			return m
		}, task("b"), false},
		{"a task of a job shutting down", func(t *testing.T) *JobMachine {
			m := newJob(t, JobConfig{})
			if r := m.Step(stopEv(), jt0); !r.Persist {
				t.Fatalf("the stop: %+v", r)
			}
			return m
		}, task("d"), false},
		{"a task of a job restarting", func(t *testing.T) *JobMachine {
			m := newJob(t, JobConfig{Strategy: OneForAll, Budget: Budget{MaxRestarts: 3}})
			if r := m.Step(failedEv("b"), jt0); !r.Persist || r.State.Phase != PhaseRestarting {
				t.Fatalf("the failure: %+v", r)
			}
			return m
		}, task("d"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.prepare(t)
			before := len(m.State().Children)
			r := m.Step(tc.ev, jt0)
			changed := len(m.State().Children) != before
			switch {
			case r.Lazy && r.Persist:
				t.Fatalf("lazy and persisted at once: %+v", r)
			case r.Lazy != tc.lazy:
				t.Fatalf("lazy %v, want %v (persist %v)", r.Lazy, tc.lazy, r.Persist)
			case changed && !r.Lazy && !r.Persist:
				t.Fatalf("the state changed, neither lazily nor persisted: %+v", r)
			case tc.lazy && len(r.Effects) != 0:
				t.Fatalf("a lazy join with effects %v", effectsOf(r))
			}
		})
	}
}
