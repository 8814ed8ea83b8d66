package kinds

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"

	"github.com/granary-rt/granary/actors"
)

// Register adds every stock kind to reg.
func Register(reg *actors.Registry) error {
	all := []*actors.TaskKind{Echo, Sleep, Flaky, Hang, Pi, WordCount}
	var errs []error
	for _, k := range all {
		errs = append(errs, reg.RegisterTask(k))
	}
	return errors.Join(errs...)
}

// Echo returns its payload, any JSON value, unchanged; an empty payload
// returns an empty result.
var Echo = must(actors.NewTask("echo", func(_ actors.TaskContext, payload []byte) ([]byte, error) {
	return payload, nil
}, actors.WithValidator(func(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	return actors.ValidJSON(p)
})))

// SleepIn is the payload of sleep.
type SleepIn struct {
	MS int64 `json:"ms"`
}

// SleepOut is the result of sleep.
type SleepOut struct {
	SleptMS int64 `json:"slept_ms"`
}

// Sleep waits for ms milliseconds, heartbeating and reporting progress every
// 100ms, and stops as soon as its context is cancelled.
var Sleep = actors.MustTask("sleep", func(ctx actors.TaskContext, in SleepIn) (SleepOut, error) {
	if err := inRange("ms", in.MS, 0, (24 * time.Hour).Milliseconds()); err != nil {
		return SleepOut{}, actors.Permanent(err)
	}
	total := time.Duration(in.MS) * time.Millisecond
	start := time.Now()
	end := time.NewTimer(total)
	defer end.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-end.C:
			return SleepOut{SleptMS: in.MS}, nil
		case <-tick.C:
			ctx.Progress(float64(time.Since(start))/float64(total), fmt.Sprintf("slept %s of %s", time.Since(start).Round(100*time.Millisecond), total))
		case <-ctx.Done():
			return SleepOut{}, ctx.Err()
		}
	}
}, validate(func(in SleepIn) error { return inRange("ms", in.MS, 0, (24 * time.Hour).Milliseconds()) }))

// FlakyIn is the payload of flaky.
type FlakyIn struct {
	FailRate  float64 `json:"fail_rate"`
	PanicRate float64 `json:"panic_rate"`
	Seed      uint64  `json:"seed"`
}

// AttemptOut is the result of the kinds that report which attempt succeeded.
type AttemptOut struct {
	Attempt int `json:"attempt"`
}

// Flaky fails or panics at random, decided per attempt from (seed, task id,
// attempt): a rerun of the same attempt behaves the same, and each new
// attempt is a fresh draw, so retries eventually get through.
var Flaky = actors.MustTask("flaky", func(ctx actors.TaskContext, in FlakyIn) (AttemptOut, error) {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", ctx.TaskID(), ctx.Attempt())
	draw := rand.New(rand.NewPCG(in.Seed, h.Sum64())).Float64()
	switch {
	case draw < in.PanicRate:
		panic(fmt.Sprintf("flaky: simulated panic on attempt %d", ctx.Attempt()))
	case draw < in.PanicRate+in.FailRate:
		return AttemptOut{}, fmt.Errorf("flaky: simulated failure on attempt %d", ctx.Attempt())
	}
	return AttemptOut{Attempt: ctx.Attempt()}, nil
}, validate(func(in FlakyIn) error {
	switch {
	case in.FailRate < 0 || in.FailRate > 1:
		return fmt.Errorf("fail_rate must be in [0,1], got %v", in.FailRate)
	case in.PanicRate < 0 || in.PanicRate > 1:
		return fmt.Errorf("panic_rate must be in [0,1], got %v", in.PanicRate)
	case in.FailRate+in.PanicRate > 1:
		return fmt.Errorf("fail_rate + panic_rate must be at most 1, got %v", in.FailRate+in.PanicRate)
	}
	return nil
}))

// HangIn is the payload of hang.
type HangIn struct {
	SucceedOnAttempt int `json:"succeed_on_attempt"`
}

// Hang is the hung-task demo: attempts before succeed_on_attempt block
// forever and deliberately ignore their context, as a handler stuck in a
// call without a time-out would. Only the runtime's attempt time-out gets
// the task going again; the blocked goroutine is abandoned. Its default
// attempt time-out is 2s so it is usable without flags.
var Hang = actors.MustTask("hang", func(ctx actors.TaskContext, in HangIn) (AttemptOut, error) {
	if ctx.Attempt() < in.SucceedOnAttempt {
		select {} // deliberately ignores ctx: this is the bug being demonstrated
	}
	return AttemptOut{Attempt: ctx.Attempt()}, nil
}, actors.WithAttemptTimeout(2*time.Second), validate(func(in HangIn) error {
	return inRange("succeed_on_attempt", int64(in.SucceedOnAttempt), 1, 1000)
}))

// PiIn is the payload of pi.
type PiIn struct {
	Samples int64 `json:"samples"`
}

// PiOut is the result of pi.
type PiOut struct {
	Pi      float64 `json:"pi"`
	Samples int64   `json:"samples"`
}

// Pi estimates π by Monte-Carlo sampling, seeded by the task id so a task
// always gives the same estimate. It checks its context and reports progress
// every 100k samples.
var Pi = actors.MustTask("pi", func(ctx actors.TaskContext, in PiIn) (PiOut, error) {
	h := fnv.New64a()
	h.Write([]byte(ctx.TaskID()))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(in.Samples)))
	var inside int64
	for i := int64(0); i < in.Samples; i++ {
		if i%100_000 == 0 && i > 0 {
			if err := ctx.Err(); err != nil {
				return PiOut{}, err
			}
			ctx.Progress(float64(i)/float64(in.Samples), fmt.Sprintf("%d samples", i))
		}
		x, y := rng.Float64(), rng.Float64()
		if x*x+y*y <= 1 {
			inside++
		}
	}
	return PiOut{Pi: 4 * float64(inside) / float64(in.Samples), Samples: in.Samples}, nil
}, validate(func(in PiIn) error { return inRange("samples", in.Samples, 1, 1_000_000_000) }))

// WordCountIn is the payload of wordcount.
type WordCountIn struct {
	Text string `json:"text"`
}

// WordCountOut is the result of wordcount.
type WordCountOut struct {
	Words  int            `json:"words"`
	Counts map[string]int `json:"counts"`
}

// WordCount counts words: runs of letters and digits, lowercased.
var WordCount = actors.MustTask("wordcount", func(_ actors.TaskContext, in WordCountIn) (WordCountOut, error) {
	return CountWords(in.Text), nil
})

// CountWords is wordcount's pure core.
func CountWords(text string) WordCountOut {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	out := WordCountOut{Words: len(words), Counts: map[string]int{}}
	for _, w := range words {
		out.Counts[w]++
	}
	return out
}

// validate checks a decoded payload at submit time.
func validate[T any](check func(T) error) actors.KindOption {
	codec := actors.CodecFor[T]()
	return actors.WithValidator(func(p []byte) error {
		v, err := codec.Decode(p)
		if err != nil {
			return err
		}
		return check(v)
	})
}

func inRange(name string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s must be in [%d, %d], got %d", name, lo, hi, v)
	}
	return nil
}

func must(k *actors.TaskKind, err error) *actors.TaskKind {
	if err != nil {
		panic(err)
	}
	return k
}
