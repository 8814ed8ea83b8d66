package tasks

import (
	"errors"
	"testing"
	"time"

	"github.com/granary-rt/granary/supervisor"
)

// panicked is a recovered panic with its stack, as supervisor.Recover records it.
var panicked = &supervisor.PanicError{Value: "boom", Stack: []byte("goroutine 7 [running]:")}

func TestAttemptCheck(t *testing.T) {
	wd := supervisor.Watchdog{AttemptTimeout: 10 * time.Second, HeartbeatTimeout: 3 * time.Second}
	started := t0
	cases := []struct {
		name     string
		wd       supervisor.Watchdog
		deadline time.Time
		beat     time.Time
		now      time.Time
		cause    supervisor.Cause // zero: no failure
		next     time.Time
	}{
		{name: "no limits: never checked again", now: t0.Add(time.Hour)},
		{name: "fresh attempt: next check at the heartbeat time-out", wd: wd, beat: t0, now: t0.Add(time.Second), next: t0.Add(3 * time.Second)},
		{name: "beating: next check moves with the beat", wd: wd, beat: t0.Add(8 * time.Second), now: t0.Add(9 * time.Second), next: t0.Add(10 * time.Second)},
		{name: "silent: heartbeat time-out", wd: wd, beat: t0, now: t0.Add(3 * time.Second), cause: supervisor.CauseHeartbeatTimeout},
		{name: "hung though beating: attempt time-out", wd: wd, beat: t0.Add(9 * time.Second), now: t0.Add(10 * time.Second), cause: supervisor.CauseAttemptTimeout},
		{name: "the deadline comes first", wd: wd, beat: t0, deadline: t0.Add(2 * time.Second), now: t0.Add(time.Second), next: t0.Add(2 * time.Second)},
		{name: "deadline passed", wd: wd, beat: t0, deadline: t0.Add(2 * time.Second), now: t0.Add(2 * time.Second), cause: supervisor.CauseDeadline},
		{name: "deadline passed before a time-out: the deadline names it", wd: wd, beat: t0, deadline: t0.Add(2 * time.Second), now: t0.Add(20 * time.Second), cause: supervisor.CauseDeadline},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, next := attemptCheck(c.deadline, c.wd, started, c.beat, c.now)
			switch {
			case c.cause == 0 && f != nil:
				t.Fatalf("failed %v, want none", f)
			case c.cause != 0 && (f == nil || f.Cause != c.cause || !f.At.Equal(c.now)):
				t.Fatalf("failure %v, want %s at now", f, c.cause)
			}
			if !next.Equal(c.next) {
				t.Errorf("next check %v, want %v", next, c.next)
			}
		})
	}
}

func TestHandlerFailure(t *testing.T) {
	if f := handlerFailure(panicked, t0); f.Cause != supervisor.CausePanic || string(f.Stack) != string(panicked.Stack) || !f.At.Equal(t0) {
		t.Errorf("panic: %+v", f)
	}
	if f := handlerFailure(errors.New("flaky"), t0); f.Cause != supervisor.CauseError || f.Stack != nil {
		t.Errorf("error: %+v", f)
	}
}
