package supervisor

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// jobWorld simulates a job's children for FuzzJobMachine: it carries out
// the machine's effects and reports the children's exits, in an order the
// fuzzer picks, and checks the supervisor's promises as it goes.
type jobWorld struct {
	t     *testing.T
	m     *JobMachine
	now   time.Time
	alive map[string]bool   // running, as the world sees it
	round map[string]uint64 // the incarnation's round
	// terminating: a terminate (of that round) was received and its
	// answer not yet sent.
	terminating map[string]uint64
	queue       []JobEvent
	done        bool
	persisted   uint64 // the round of the last state persisted
}

func (w *jobWorld) apply(r Ready, ev JobEvent) {
	w.t.Helper()
	before := w.m.State()
	_ = before
	for _, e := range r.Effects {
		switch e.Kind {
		case EffectStart:
			for id, round := range w.terminating {
				if w.alive[id] && w.round[id] < round {
					w.t.Fatalf("start %s while %s is being terminated", e.Child, id)
				}
			}
			if w.alive[e.Child] && w.round[e.Child] == e.Round {
				continue // a start sent again: applied once (its round is its request id)
			}
			if w.alive[e.Child] {
				w.t.Fatalf("start %s, which runs already (no exit between)", e.Child)
			}
			if w.done {
				w.t.Fatalf("start %s after the job finished", e.Child)
			}
			w.alive[e.Child], w.round[e.Child] = true, e.Round
			w.queue = append(w.queue, started(e.Child))
		case EffectTerminate:
			w.terminating[e.Child] = e.Round
			w.queue = append(w.queue, JobEvent{Kind: EventExited, Child: JobChild{ID: e.Child, Round: e.Round}, Exit: ExitTerminated})
		case EffectFinished:
			w.done = true
		case EffectSweep:
			w.queue = append(w.queue, JobEvent{Kind: EventSwept}) // the world's children are all known
		}
	}
}

func (w *jobWorld) step(ev JobEvent) {
	w.t.Helper()
	w.now = w.now.Add(time.Millisecond)
	before := w.m.State()
	if ev.Kind == EventExited && ev.Exit == ExitTerminated {
		id := ev.Child.ID
		delete(w.terminating, id)
		if w.alive[id] && w.round[id] >= ev.Child.Round {
			// The child was started again in or after the terminate's
			// round: the terminate is stale, and its owner ignores it
			// without an answer (tasks.terminateStale).
			return
		}
		w.alive[id] = false
	}
	r := w.m.Step(ev, w.now)
	after := w.m.State()
	if d := after.RestartCount - before.RestartCount; d < 0 || uint64(d) > after.Round-before.Round {
		w.t.Fatalf("%s %s: restarts went %d -> %d for rounds %d -> %d", ev.Kind, ev.Child.ID, before.RestartCount, after.RestartCount, before.Round, after.Round)
	}
	if ev.Kind == EventExited && ev.Exit != ExitTerminated && after.RestartCount-before.RestartCount > 1 {
		w.t.Fatalf("one exit counted as %d restarts", after.RestartCount-before.RestartCount)
	}
	if n := len(after.RestartTimes); !w.m.cfg.Budget.Unlimited() && w.m.cfg.Budget.Period > 0 && n > w.m.cfg.Budget.MaxRestarts {
		w.t.Fatalf("%d restarts inside the window, budget %s", n, w.m.cfg.Budget)
	}
	if r.Persist {
		w.persisted = r.State.Round
	}
	for _, e := range r.Effects {
		if (e.Kind == EffectStart || e.Kind == EffectTerminate) && e.Round > w.persisted {
			w.t.Fatalf("%s of round %d before the decision of that round was persisted (%d)", e, e.Round, w.persisted)
		}
	}
	w.apply(r, ev)
}

func FuzzJobMachine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add([]byte{1, 17, 33, 0, 0, 0, 2, 0, 0, 0, 0})
	f.Add([]byte{2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		cfg := JobConfig{ID: "j", Strategy: Strategy(data[0] % 3), Budget: Budget{MaxRestarts: int(data[1]%5) - 1, Period: time.Duration(data[1]/5%3) * 50 * time.Millisecond},
			Shutdown: time.Millisecond, AutoShutdown: AutoShutdown(data[0] / 3 % 3), HasParent: data[0]&0x80 != 0}
		m, err := NewJobMachine(cfg, JobState{})
		if err != nil {
			t.Fatal(err)
		}
		w := &jobWorld{t: t, m: m, now: jt0, alive: map[string]bool{}, round: map[string]uint64{}, terminating: map[string]uint64{}}
		for i := range 5 {
			id := fmt.Sprintf("c%d", i)
			w.alive[id] = true
			w.step(JobEvent{Kind: EventAdded, Child: JobChild{ID: id, Stage: i % 3, Restart: RestartType(i % 3), Significant: i == 1 || i == 3}})
		}
		for _, b := range data[2:] {
			id := fmt.Sprintf("c%d", b%5)
			switch b >> 4 % 8 {
			case 0, 1, 2: // deliver a queued answer
				if len(w.queue) == 0 {
					continue
				}
				i := int(b) % len(w.queue)
				ev := w.queue[i]
				w.queue = append(w.queue[:i], w.queue[i+1:]...)
				w.step(ev)
			case 3: // a running child fails
				if w.alive[id] {
					w.alive[id] = false
					err := error(errors.New("boom"))
					if b&1 == 1 && b&2 == 2 {
						err = wrappedPermanent()
					}
					w.step(JobEvent{Kind: EventExited, Child: JobChild{ID: id, Round: w.round[id]}, Exit: ExitFailed, Failure: Failure{Err: err}})
				}
			case 4: // a running child completes
				if w.alive[id] {
					w.alive[id] = false
					w.step(JobEvent{Kind: EventExited, Child: JobChild{ID: id, Round: w.round[id]}, Exit: ExitCompleted})
				}
			case 5:
				w.now = w.now.Add(time.Duration(b) * time.Second)
				w.step(JobEvent{Kind: EventTick})
			case 6:
				w.step(stopEv())
			case 7: // a report sent twice: of a child that has exited
				if !w.alive[id] {
					w.step(JobEvent{Kind: EventExited, Child: JobChild{ID: id, Round: w.round[id]}, Exit: ExitFailed})
				}
			}
		}
		// Deliver everything left: the job settles, and nothing the world
		// runs is left behind by a job that ended.
		for len(w.queue) > 0 {
			ev := w.queue[0]
			w.queue = w.queue[1:]
			w.step(ev)
		}
		if st := w.m.State(); st.Phase == PhaseDone && st.End != EndCompleted {
			for id, alive := range w.alive {
				if alive {
					t.Fatalf("job %s but child %s still runs", st.End, id)
				}
			}
		}
	})
}
