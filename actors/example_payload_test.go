package actors_test

import (
	"errors"
	"testing"

	"github.com/granary-rt/granary/actors"
)

type examplePayload struct {
	N int `json:"n"`
}

func (p examplePayload) Validate() error {
	if p.N < 1 {
		return errors.New("n must be positive")
	}
	return nil
}

type exampleGrain struct{}

func (exampleGrain) Receive(_ actors.GrainContext, req examplePayload) (int, error) {
	return req.N, nil
}

// TestKindExamples: a kind's example is what `granary kinds` and the
// console offer a new user, so a kind whose example is not JSON, or that
// its own checks refuse, is not defined.
func TestKindExamples(t *testing.T) {
	run := func(_ actors.TaskContext, in examplePayload) (int, error) { return in.N, nil }
	k, err := actors.Task("ex", run, actors.WithCheck(examplePayload.Validate), actors.WithExample(`{"n":2}`))
	if err != nil || string(k.Example()) != `{"n":2}` {
		t.Fatalf("a good example: %v, example %q", err, k.Example())
	}
	for _, bad := range []string{`{"n":0}`, `{"m":1}`, `{nope`} {
		if _, err := actors.Task("ex", run, actors.WithCheck(examplePayload.Validate), actors.WithExample(bad)); !errors.Is(err, actors.ErrInvalidKind) {
			t.Errorf("task example %s: %v; want ErrInvalidKind", bad, err)
		}
	}
	factory := func() actors.TypedGrain[examplePayload, int] { return exampleGrain{} }
	g, err := actors.GrainOf("exg", factory, actors.GrainExample(`{"n":1}`))
	if err != nil || string(g.Example()) != `{"n":1}` {
		t.Fatalf("a good grain example: %v, example %q", err, g.Example())
	}
	for _, bad := range []string{`{"m":1}`, `{nope`} {
		if _, err := actors.GrainOf("exg", factory, actors.GrainExample(bad)); !errors.Is(err, actors.ErrInvalidKind) {
			t.Errorf("grain example %s: %v; want ErrInvalidKind", bad, err)
		}
	}
}
