package tasks

import (
	"errors"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzPlanFailure checks the rules every decision on a failed attempt
// keeps, whatever the task, the failure and the budget: the attempt is
// recorded, no attempt is planned at or past the deadline (unless the
// member drains and leaves the task to the next owner), a permanent error
// is never retried, only a lost member starts the next attempt at once,
// and a task of a job fails for good like any other (its actor then holds
// it for its job).
func FuzzPlanFailure(f *testing.F) {
	f.Add(uint8(1), uint8(3), uint8(0), uint8(0), false, int64(0), false, uint8(0), 0.5)
	f.Add(uint8(3), uint8(3), uint8(2), uint8(1), false, int64(1500), false, uint8(2), 0.0)
	f.Add(uint8(2), uint8(5), uint8(1), uint8(6), true, int64(10), true, uint8(0), 0.9)
	causes := []supervisor.Cause{supervisor.CauseError, supervisor.CausePanic, supervisor.CauseAttemptTimeout,
		supervisor.CauseHeartbeatTimeout, supervisor.CauseDeadline, supervisor.CauseCancelled, supervisor.CauseMemberLost}
	f.Fuzz(func(t *testing.T, attempts, maxAttempts, spent, cause uint8, permanent bool, deadlineMs int64, draining bool, jobRestarts uint8, rnd float64) {
		if attempts == 0 || maxAttempts == 0 || int(spent) >= int(attempts) || !(rnd >= 0 && rnd < 1) {
			return
		}
		task := coreTask(running, int32(attempts), int32(maxAttempts))
		task.Spec.Retry.Jitter = messages.Jitter_JITTER_FULL
		task.Spec.JobMaxRestarts = int32(jobRestarts)
		if deadlineMs != 0 {
			task.Status.Deadline = timestamppb.New(t0.Add(time.Duration(deadlineMs) * time.Millisecond))
		}
		err := errors.New("failed")
		if permanent {
			err = actors.Permanent(err)
		}
		fl := supervisor.Failure{Cause: causes[int(cause)%len(causes)], Err: err, At: t0}
		d := treeOf(t, task, int(spent)).Failed(attemptChild, fl, t0, rnd)
		p := planFailure(task, fl, d, int(attempts), t0, draining, "n1")

		if p.entry == nil || int(p.entry.Attempt) != int(attempts) {
			t.Fatalf("attempt not recorded: %+v", p)
		}
		switch p.step {
		case stepRetry, stepStart:
			if dl := deadlineOf(task.Status); !draining && !dl.IsZero() && !p.at.Before(dl) {
				t.Fatalf("%v planned at %v, past the deadline %v", p.step, p.at, dl)
			}
			if p.at.Before(t0) {
				t.Fatalf("%v planned in the past: %v", p.step, p.at)
			}
			if supervisor.IsPermanent(err) {
				t.Fatalf("a permanent error retried: %+v", p)
			}
			if p.step == stepStart && (fl.Cause != supervisor.CauseMemberLost || draining) {
				t.Fatalf("started at once after %s (draining %v)", fl.Cause, draining)
			}
		case stepFinish:
			if p.state != messages.TaskState_TASK_STATE_FAILED || p.reason == "" {
				t.Fatalf("finished %v %q", p.state, p.reason)
			}
		default:
			t.Fatalf("unexpected step %v", p.step)
		}
	})
}
