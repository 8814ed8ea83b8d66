// Package actors is the API that Granary's users write handlers against:
// tasks (durable, supervised, retried units of work) and grains (stateful
// virtual actors that answer requests).
//
// A task handler receives a TaskContext, which is a context.Context that is
// cancelled when the attempt must stop (time-out, cancellation, lost
// ownership), and the task's payload:
//
//	resize := actors.MustTask("resize", func(ctx actors.TaskContext, in ResizeRequest) (ResizeResult, error) {
//		for i, tile := range in.Tiles {
//			ctx.Heartbeat()                             // "still alive": resets the heartbeat time-out
//			ctx.Progress(float64(i)/float64(len(in.Tiles)), tile)
//			if err := ctx.Err(); err != nil {
//				return ResizeResult{}, err                   // stop promptly when told to
//			}
//		}
//		return ResizeResult{Done: len(in.Tiles)}, nil
//	}, actors.WithAttemptTimeout(time.Minute))
//	_ = registry.RegisterTask(resize)
//
// Typed kinds (Task, Grain) declare their payload type; a payload that does
// not decode into it is rejected when it is submitted, not when it runs.
// Go structs travel as strict JSON (unknown fields are errors), proto
// messages as protojson.
//
// Execution is at-least-once: an attempt may run again after a crash or a
// lost member, so handlers must be safe to re-run (idempotent side effects,
// keyed by TaskID and Attempt where it matters). The committed result is
// exactly-once. An error wrapped with Permanent is never retried; any other
// error or panic is retried under the kind's retry policy.
//
// A long handler checkpoints where it stands (SaveCheckpoint, or
// TaskContext.Checkpoint) and starts from there (Resume): every later
// attempt, on any member, starts with the last value saved, so only the
// work since that checkpoint runs again. A checkpoint is fenced like a
// commit (ErrFenced for an attempt that no longer holds its task) and
// bounded (ErrCheckpointTooLarge).
package actors
