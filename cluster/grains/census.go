package grains

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// census asks the router for its activations by kind.
type census struct{ sample int }

// KindCount is one grain kind's activations on this member: how many, and
// some of their identities (sorted, at most the sample asked for).
type KindCount struct {
	Kind       string
	Count      int
	Identities []string
}

// ActivationsByKind counts this member's activations by kind, sorted by
// kind, naming up to sample identities of each. It asks the router actor
// (one message; the router walks its table of activations, so a member
// with a million activations pays a few milliseconds), which is why it is
// for the console and operators, not for a hot path.
func (h *Host) ActivationsByKind(ctx context.Context, sample int) ([]KindCount, error) {
	if h.router == nil {
		return nil, errors.New("grains: not started")
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	res, err := h.sys.Root.RequestFuture(h.router, &census{sample: sample}, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("grains: counting activations: %w", err)
	}
	out, _ := res.([]KindCount)
	return out, nil
}

// census counts the router's activations by kind (its table's keys are
// kind/identity).
func (r *router) census(sample int) []KindCount {
	byKind := map[string]*KindCount{}
	r.active.each(func(key string, _ *actor.PID) {
		kind, identity, _ := strings.Cut(key, "/")
		kc := byKind[kind]
		if kc == nil {
			kc = &KindCount{Kind: kind}
			byKind[kind] = kc
		}
		kc.Count++
		if len(kc.Identities) < sample {
			kc.Identities = append(kc.Identities, identity)
		}
	})
	out := make([]KindCount, 0, len(byKind))
	for _, kc := range byKind {
		slices.Sort(kc.Identities)
		out = append(out, *kc)
	}
	slices.SortFunc(out, func(a, b KindCount) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}
