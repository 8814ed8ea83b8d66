package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/supervisor"
)

// StopJob stops a job and its whole subtree, as OTP stops a supervisor:
// its children are terminated one by one in reverse start order (child
// jobs first stopping their own subtrees), each waited for up to the job's
// shutdown time, then the job ends stopped and its parent, if any, hears
// of it as a child's exit. It returns the job's record once the job has
// ended; a job that has ended already is returned as it is. Tasks that
// completed keep their result; the rest end cancelled with reason.
func (m *Manager) StopJob(ctx context.Context, id, reason string) (store.JobRecord, error) {
	if err := checkID("job", id); err != nil {
		return store.JobRecord{}, err
	}
	if reason == "" {
		reason = "stopped by request"
	}
	if err := checkText("stop reason", reason, MaxReasonBytes); err != nil {
		return store.JobRecord{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	jr, err := m.store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.JobRecord{}, fmt.Errorf("%w: no job %s", api.ErrNotFound, id)
	}
	if err != nil {
		return store.JobRecord{}, storeErr(err)
	}
	if jobEnded(jr) {
		return jr, nil
	}
	stop := supervisor.JobEvent{Kind: supervisor.EventStop, Final: supervisor.FinalCancelled, Reason: reason}
	deadline := time.Now().Add(stopWaitBound)
	for {
		if err := m.routeJob(ctx, id, stop); err != nil {
			return store.JobRecord{}, err
		}
		wctx, cancel := context.WithTimeout(ctx, stopResendAfter)
		jr, err := m.waitJobEnded(wctx, id)
		cancel()
		if err == nil || !errors.Is(err, api.ErrUnavailable) || ctx.Err() != nil {
			return jr, err
		}
		if time.Now().After(deadline) {
			// Still stopping (children slow to exit): the record as it
			// stands; the caller polls the tree (HTTP 202).
			if jr, gerr := m.store.GetJob(ctx, id); gerr == nil {
				return jr, nil
			}
			return store.JobRecord{}, err
		}
		// Not ended yet: the stop is sent again; a stop reaching a job
		// already stopping changes nothing. A stop handed to a job actor
		// that quits, or whose write does not land, reaches the job's next
		// supervisor (retireJob, jobActor.landing); but a member that
		// drains or fences itself stops its job actors at once, and a stop
		// still queued for one then is gone: only the caller still has it.
	}
}

const (
	// stopResendAfter: a stop not seen through within it is sent again.
	// A job with nothing slow to exit stops in milliseconds.
	stopResendAfter = 2 * time.Second
	// stopWaitBound bounds how long StopJob waits for the subtree to end
	// before it answers with the job still stopping: a caller must not
	// hang on children that take their whole shutdown time to exit.
	stopWaitBound = 30 * time.Second
)

// jobEnded reports whether a job's record says it has ended with nothing
// left to stop.
func jobEnded(jr store.JobRecord) bool {
	run := jr.Job.GetRun()
	if run.GetPhase() != supervisor.PhaseDone.String() {
		return false
	}
	for _, c := range run.GetChildren() {
		if s, _ := supervisor.ParseChildStatus(c.GetStatus()); s == supervisor.ChildStopped {
			return false // a failed child job's held children: the stop makes them final
		}
	}
	return true
}

// waitJobEnded polls the job's record until it says the job has ended, or
// ctx ends.
func (m *Manager) waitJobEnded(ctx context.Context, id string) (store.JobRecord, error) {
	wait := 10 * time.Millisecond
	for {
		jr, err := m.store.GetJob(ctx, id)
		if err == nil && jobEnded(jr) {
			return jr, nil
		}
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			return store.JobRecord{}, storeErr(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return store.JobRecord{}, fmt.Errorf("%w: job %s is still stopping: %w", api.ErrUnavailable, id, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}
