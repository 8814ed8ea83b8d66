package kinds

import (
	"fmt"
	"time"

	"github.com/granary-rt/granary/actors"
)

// MaxSteps bounds a steps payload: enough for any demonstration.
const MaxSteps = 100_000

// StepsIn is the payload of steps.
type StepsIn struct {
	// Steps is how many steps to run: 1 to MaxSteps.
	Steps int `json:"steps"`
	// StepMS is how long each step works, in milliseconds: 0 to 60000.
	StepMS int `json:"step_ms,omitempty"`
	// Log logs every finished step ("step done", with its step and
	// attempt), so a test can tell which steps ran where.
	Log bool `json:"log,omitempty"`
}

// Validate reports a payload out of bounds.
func (in StepsIn) Validate() error {
	switch {
	case in.Steps < 1 || in.Steps > MaxSteps:
		return fmt.Errorf("steps must be between 1 and %d, got %d", MaxSteps, in.Steps)
	case in.StepMS < 0 || in.StepMS > 60_000:
		return fmt.Errorf("step_ms must be between 0 and 60000, got %d", in.StepMS)
	}
	return nil
}

// StepsOut is the result of steps.
type StepsOut struct {
	Steps int `json:"steps"`
	// ResumedFrom is the step the last attempt started at: its checkpoint.
	ResumedFrom int `json:"resumed_from"`
	// Attempt is the attempt that finished.
	Attempt int `json:"attempt"`
}

// Steps is the model of a resumable handler: it runs its steps one after
// the other and checkpoints the next step's number after each, so an
// attempt that starts again after an error, a kill or a failover resumes
// where the last one stood. Between checkpoints execution is
// at-least-once: a step interrupted before its checkpoint runs again.
var Steps = actors.MustTask("steps", runSteps,
	actors.WithCheck(StepsIn.Validate),
	actors.WithExample(`{"steps":100,"step_ms":50}`),
	// No attempt time-out: 100,000 steps of a minute each is legitimate.
	actors.WithAttemptTimeout(0),
	// Every step ends with a checkpoint, which heartbeats: a step of at
	// most a minute misses none in 90 s unless it is stuck.
	actors.WithHeartbeatTimeout(90*time.Second),
)

func runSteps(ctx actors.TaskContext, in StepsIn) (StepsOut, error) {
	from, _, err := actors.Resume[int](ctx)
	if err != nil {
		return StepsOut{}, actors.Permanent(err)
	}
	work := time.NewTimer(0)
	defer work.Stop()
	for step := from; step < in.Steps; step++ {
		work.Reset(time.Duration(in.StepMS) * time.Millisecond)
		select {
		case <-work.C:
		case <-ctx.Done():
			return StepsOut{}, ctx.Err()
		}
		if in.Log {
			ctx.Logger().Info("step done", "step", step)
		}
		if err := actors.SaveCheckpoint(ctx, step+1); err != nil {
			return StepsOut{}, err
		}
		ctx.Progress(float64(step+1)/float64(in.Steps), fmt.Sprintf("step %d of %d", step+1, in.Steps))
	}
	return StepsOut{Steps: in.Steps, ResumedFrom: from, Attempt: ctx.Attempt()}, nil
}
