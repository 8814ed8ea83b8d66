package actors

import (
	"errors"
	"fmt"
)

// ErrNotDependency is returned for a dependency result asked of a task
// that does not depend on it, or of a dependency that has not completed.
var ErrNotDependency = errors.New("not a completed dependency")

// Dependent is the ability of a TaskContext to read the results of the
// tasks its task depends on (submitted with depends_on); the runtime's
// contexts have it. A task's first attempt starts only once every
// dependency completed, so each has a result.
type Dependent interface {
	// Dependencies are the ids of the tasks this one depends on, job
	// stages expanded into their tasks.
	Dependencies() []string
	// DependencyResult is dependency id's committed result.
	DependencyResult(id string) ([]byte, error)
}

// Dependencies returns the ids of the tasks ctx's task depends on (none
// for a context that cannot tell).
func Dependencies(ctx TaskContext) []string {
	if d, ok := ctx.(Dependent); ok {
		return d.Dependencies()
	}
	return nil
}

// DependencyResult returns dependency id's committed result.
func DependencyResult(ctx TaskContext, id string) ([]byte, error) {
	d, ok := ctx.(Dependent)
	if !ok {
		return nil, fmt.Errorf("%w: this task context has no dependencies", ErrNotDependency)
	}
	return d.DependencyResult(id)
}

// DependencyResultAs is DependencyResult decoded as Out.
func DependencyResultAs[Out any](ctx TaskContext, id string) (Out, error) {
	var zero Out
	b, err := DependencyResult(ctx, id)
	if err != nil {
		return zero, err
	}
	out, err := CodecFor[Out]().Decode(b)
	if err != nil {
		return zero, fmt.Errorf("decoding the result of dependency %s: %w", id, err)
	}
	return out, nil
}
