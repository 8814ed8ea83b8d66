package kinds

import (
	"fmt"

	"github.com/granary-rt/granary/actors"
)

// MaxPiSamples bounds a pi task to tens of seconds of CPU.
const MaxPiSamples = 1_000_000_000

// piChunk is how many samples pi draws between looks at its context: about
// a millisecond of work, so a cancelled attempt stops promptly while the
// checks and progress reports cost nothing measurable.
const piChunk = 100_000

// PiIn is the payload of pi.
type PiIn struct {
	// Samples is the number of random points to draw: 1 to 1e9.
	Samples int64 `json:"samples"`
}

// Validate reports whether samples is within 1..MaxPiSamples.
func (in PiIn) Validate() error {
	if in.Samples < 1 || in.Samples > MaxPiSamples {
		return fmt.Errorf("samples must be between 1 and %d, got %d", MaxPiSamples, in.Samples)
	}
	return nil
}

// PiOut is the result of pi.
type PiOut struct {
	Pi      float64 `json:"pi"`
	Samples int64   `json:"samples"`
}

// Pi estimates π by Monte-Carlo sampling: the share of random points of
// the unit square that fall inside the quarter circle is π/4. It is the
// model of a CPU-bound handler: it checks its context and reports progress
// (a heartbeat) every 100k samples. Its generator is seeded by the task id,
// so every attempt of a task gives the same estimate and a retry is
// indistinguishable from the first run. It uses the default settings.
var Pi = actors.MustTask("pi", runPi, actors.WithCheck(PiIn.Validate), actors.WithExample(`{"samples":1000000}`))

func runPi(ctx actors.TaskContext, in PiIn) (PiOut, error) {
	rng := rngFor(ctx.TaskID())
	var inside, done int64
	for done < in.Samples {
		if err := ctx.Err(); err != nil {
			return PiOut{}, err
		}
		n := min(piChunk, in.Samples-done)
		for range n {
			x, y := rng.Float64(), rng.Float64()
			if x*x+y*y <= 1 {
				inside++
			}
		}
		done += n
		ctx.Progress(float64(done)/float64(in.Samples), fmt.Sprintf("%d of %d samples", done, in.Samples))
	}
	return PiOut{Pi: 4 * float64(inside) / float64(in.Samples), Samples: in.Samples}, nil
}
