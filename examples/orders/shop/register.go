package shop

import (
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/granary-rt/granary/actors"
)

// Tasks returns the shop's task kinds, in checkout order.
func Tasks() []*actors.TaskKind { return []*actors.TaskKind{Reserve, Charge, Ship} }

// Grains returns the shop's grain kinds.
func Grains() []*actors.GrainKind { return []*actors.GrainKind{Cart} }

// Register adds every kind of the shop to reg. Every clash is reported,
// not only the first.
func Register(reg *actors.Registry) error {
	var errs []error
	for _, k := range Tasks() {
		if err := reg.RegisterTask(k); err != nil {
			errs = append(errs, fmt.Errorf("registering task kind %s: %w", k.Name(), err))
		}
	}
	for _, k := range Grains() {
		if err := reg.RegisterGrain(k); err != nil {
			errs = append(errs, fmt.Errorf("registering grain kind %s: %w", k.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// keyOf is the idempotency key of a task's side effect: the same on every
// attempt and every node, different between tasks.
func keyOf(taskID string) string { return fmt.Sprintf("%016x", hash64(taskID)) }

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func mustGrain(k *actors.GrainKind, err error) *actors.GrainKind {
	if err != nil {
		panic(err)
	}
	return k
}
