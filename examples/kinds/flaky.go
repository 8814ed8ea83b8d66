package kinds

import (
	"fmt"

	"github.com/granary-rt/granary/actors"
)

// FlakyIn is the payload of flaky.
type FlakyIn struct {
	// FailRate is the chance, in [0,1], that an attempt returns an error.
	FailRate float64 `json:"fail_rate"`
	// PanicRate is the chance, in [0,1], that an attempt panics.
	PanicRate float64 `json:"panic_rate"`
	// Seed varies the draws between otherwise identical tasks.
	Seed uint64 `json:"seed"`
}

// rateSlack absorbs float rounding in FailRate+PanicRate, so that rates
// written as decimals that add up to 1 (0.7 and 0.3) are never refused.
const rateSlack = 1e-9

// Validate reports whether both rates are probabilities and their sum is
// at most 1 (the two outcomes exclude each other).
func (in FlakyIn) Validate() error {
	switch {
	case in.FailRate < 0 || in.FailRate > 1:
		return fmt.Errorf("fail_rate must be between 0 and 1, got %v", in.FailRate)
	case in.PanicRate < 0 || in.PanicRate > 1:
		return fmt.Errorf("panic_rate must be between 0 and 1, got %v", in.PanicRate)
	case in.FailRate+in.PanicRate > 1+rateSlack:
		return fmt.Errorf("fail_rate + panic_rate must be at most 1, got %v + %v", in.FailRate, in.PanicRate)
	}
	return nil
}

// AttemptOut is the result of the kinds that report which attempt
// succeeded (flaky, hang).
type AttemptOut struct {
	Attempt int `json:"attempt"`
}

// Flaky fails or panics at random so that retries and panic recovery have
// something to do. Each attempt makes one draw from a generator seeded by
// (seed, task id, attempt): with probability panic_rate it panics, with
// probability fail_rate it returns an error, otherwise it succeeds. A rerun
// of the same attempt (after a crash) behaves the same, while each new
// attempt is a fresh draw, so a task with rates below 1 eventually gets
// through. It uses the default settings: five attempts with backoff.
var Flaky = actors.MustTask("flaky", runFlaky, actors.WithCheck(FlakyIn.Validate), actors.WithExample(`{"fail_rate":0.5,"seed":1}`))

func runFlaky(ctx actors.TaskContext, in FlakyIn) (AttemptOut, error) {
	attempt := ctx.Attempt()
	draw := rngFor(ctx.TaskID(), in.Seed, uint64(attempt)).Float64() // in [0,1): rate 1 always hits, rate 0 never
	switch {
	case draw < in.PanicRate:
		ctx.Logger().Debug("flaky: panicking on purpose", "draw", draw)
		panic(fmt.Sprintf("flaky: simulated panic on attempt %d", attempt))
	case draw < in.PanicRate+in.FailRate:
		return AttemptOut{}, fmt.Errorf("flaky: simulated failure on attempt %d", attempt)
	}
	return AttemptOut{Attempt: attempt}, nil
}
