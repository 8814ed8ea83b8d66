package kinds

import (
	"fmt"
	"time"

	"github.com/granary-rt/granary/actors"
)

// HangIn is the payload of hang.
type HangIn struct {
	// SucceedOnAttempt is the first attempt that does not hang: 1 to 1000.
	SucceedOnAttempt int `json:"succeed_on_attempt"`
}

// Validate reports whether the succeeding attempt can ever run: at least
// the first and at most the largest max_attempts a submit may ask for.
func (in HangIn) Validate() error {
	limit := actors.DefaultLimits().MaxAttempts
	if in.SucceedOnAttempt < 1 || in.SucceedOnAttempt > limit {
		return fmt.Errorf("succeed_on_attempt must be between 1 and %d, got %d", limit, in.SucceedOnAttempt)
	}
	return nil
}

// Hang is the hung-task demo, and deliberately a badly behaved handler.
// Attempts before succeed_on_attempt block forever AND IGNORE THEIR
// CONTEXT, as a handler stuck in a call without a time-out would; later
// attempts succeed at once. Only the runtime can get such a task going
// again: its attempt time-out fails the attempt, the blocked goroutine is
// abandoned (it leaks, which is the point being demonstrated), and the
// retry runs. Do not copy the blocking part into real handlers.
var Hang = actors.MustTask("hang", runHang,
	actors.WithCheck(HangIn.Validate),
	// Hangs on attempt 1 (its time-out fails it), succeeds on attempt 2.
	actors.WithExample(`{"succeed_on_attempt":2}`),
	// 2s makes the demo usable without flags: a hung attempt is noticed
	// quickly, and nothing in this kind does real work that could need
	// longer. A submit may still override it.
	actors.WithAttemptTimeout(2*time.Second),
)

func runHang(ctx actors.TaskContext, in HangIn) (AttemptOut, error) {
	if ctx.Attempt() < in.SucceedOnAttempt {
		select {} // Deliberate: never returns and never looks at ctx.
	}
	return AttemptOut{Attempt: ctx.Attempt()}, nil
}
