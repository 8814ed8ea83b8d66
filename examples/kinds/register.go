package kinds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/examples/wordcount"
)

// All returns every stock kind, in the order Register adds them.
func All() []*actors.TaskKind {
	return append([]*actors.TaskKind{Echo, Sleep, Flaky, Hang, Pi, WordCount, Steps}, wordcount.Kinds()...)
}

// Register adds every stock kind to reg. A name that reg already holds is
// reported (wrapping actors.ErrDuplicateKind) and the other kinds are still
// added, so one clash does not hide the rest.
func Register(reg *actors.Registry) error {
	var errs []error
	for _, k := range All() {
		if err := reg.RegisterTask(k); err != nil {
			errs = append(errs, fmt.Errorf("registering stock kind %s: %w", k.Name(), err))
		}
	}
	for _, k := range Grains() {
		if err := reg.RegisterGrain(k); err != nil {
			errs = append(errs, fmt.Errorf("registering stock grain kind %s: %w", k.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Grains returns the stock grain kinds.
func Grains() []*actors.GrainKind {
	return []*actors.GrainKind{Counter, WhoAmI, Leader, Alarm}
}

// rngFor returns a generator seeded only from its arguments, so a handler
// drawing from it makes the same choices every time it runs with them: the
// property that makes an at-least-once rerun harmless. The numbers are
// hashed first at a fixed width, so (nums, taskID) pairs cannot collide by
// concatenation.
func rngFor(taskID string, nums ...uint64) *rand.Rand {
	h := fnv.New128a()
	var b [8]byte
	for _, n := range nums {
		binary.LittleEndian.PutUint64(b[:], n)
		h.Write(b[:])
	}
	h.Write([]byte(taskID))
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:])))
}

// must is for package-level kinds built with actors.NewTask, which has no
// Must form: a bad definition is a programming error found at start-up.
func must(k *actors.TaskKind, err error) *actors.TaskKind {
	if err != nil {
		panic(err)
	}
	return k
}
