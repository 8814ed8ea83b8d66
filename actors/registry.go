package actors

import (
	"fmt"
	"sort"
	"sync"
)

// Registry holds the kinds a node can run. Register everything before the
// node starts; lookups are safe from any goroutine.
type Registry struct {
	mu     sync.RWMutex
	tasks  map[string]*TaskKind
	grains map[string]*GrainKind
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{tasks: map[string]*TaskKind{}, grains: map[string]*GrainKind{}}
}

// RegisterTask adds a task kind; a name already taken by a task or grain
// kind is ErrDuplicateKind.
func (r *Registry) RegisterTask(k *TaskKind) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.free(k.name); err != nil {
		return err
	}
	r.tasks[k.name] = k
	return nil
}

// RegisterGrain adds a grain kind; a name already taken is ErrDuplicateKind.
func (r *Registry) RegisterGrain(k *GrainKind) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.free(k.name); err != nil {
		return err
	}
	r.grains[k.name] = k
	return nil
}

func (r *Registry) free(name string) error {
	if _, ok := r.tasks[name]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicateKind, name)
	}
	if _, ok := r.grains[name]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicateKind, name)
	}
	return nil
}

// Task finds a task kind. The error wraps ErrUnknownKind and lists the
// known task kinds, so a typo is easy to see.
func (r *Registry) Task(name string) (*TaskKind, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if k, ok := r.tasks[name]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q (task kinds: %v)", ErrUnknownKind, name, sortedKeys(r.tasks))
}

// Grain finds a grain kind; the error wraps ErrUnknownKind.
func (r *Registry) Grain(name string) (*GrainKind, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if k, ok := r.grains[name]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q (grain kinds: %v)", ErrUnknownKind, name, sortedKeys(r.grains))
}

// TaskKinds lists the task kind names, sorted.
func (r *Registry) TaskKinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.tasks)
}

// GrainKinds lists the grain kind names, sorted.
func (r *Registry) GrainKinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return sortedKeys(r.grains)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
