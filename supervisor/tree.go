package supervisor

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Child is one supervised child.
type Child struct {
	// ID names the child uniquely within its tree.
	ID string
	// Restart says which terminations lead to a restart.
	Restart RestartType
}

// Decision is what the shell around a Tree must do after a failure or exit.
type Decision struct {
	// Directive is the action to take.
	Directive Directive
	// Targets are the children to restart, stop or resume, in start order:
	// for a restart, the failed child under one-for-one, every running child
	// under one-for-all, and the failed child plus the running children
	// started after it under rest-for-one. Stop and Resume target only the
	// failed child; Escalate targets nobody.
	Targets []string
	// Discard lists running temporary siblings that a one-for-all or
	// rest-for-one restart terminates without starting again (Erlang's rule
	// for temporary children). The shell stops them; the tree has already
	// forgotten them.
	Discard []string
	// Delay is the backoff to wait before restarting; 0 unless Directive is
	// Restart.
	Delay time.Duration
	// Restart counts the failed child's restarts inside the budget window
	// (its lifetime when Budget.Period is 0), including this one when
	// Directive is Restart. It drives the backoff; for a task it is the
	// number of the next attempt minus one.
	Restart int
	// Reason explains the decision for logs and status pages.
	Reason string
}

type childState struct {
	Child
	running  bool
	restarts history
}

// history remembers restart instants: a lifetime total and, when the window
// is bounded, the sorted instants still inside it.
type history struct {
	times []time.Time
	total int
}

func (h *history) record(at time.Time, period time.Duration) {
	h.total++
	if period > 0 {
		i, _ := slices.BinarySearchFunc(h.times, at, time.Time.Compare)
		for i < len(h.times) && !h.times[i].After(at) {
			i++ // keep equal instants in arrival order
		}
		h.times = slices.Insert(h.times, i, at)
	}
}

// inWindow drops instants that left the window and counts the rest. now must
// not go backwards between calls.
func (h *history) inWindow(now time.Time, period time.Duration) int {
	if period == 0 {
		return h.total
	}
	i := 0
	for i < len(h.times) && now.Sub(h.times[i]) >= period {
		i++
	}
	h.times = slices.Delete(h.times, 0, i)
	return len(h.times)
}

// Tree is the pure decision core of a supervisor: it holds the children in
// start order with their restart history and answers Failed and Exited with
// a Decision. It performs no I/O, reads no clock and draws no random
// numbers; the caller passes them in. A Tree is not safe for concurrent use:
// one actor owns it.
type Tree struct {
	spec     Spec
	children []*childState
	// index finds a child by id once there are more than smallTree; below
	// that a scan of children is as fast, and a task's one-child tree
	// (one per running task on a member) saves the map's few hundred bytes.
	index    map[string]*childState
	restarts history
}

// smallTree is the most children a Tree finds by scanning, without index.
const smallTree = 8

// child is the state of child id, if the tree knows it.
func (t *Tree) child(id string) (*childState, bool) {
	if t.index != nil {
		s, ok := t.index[id]
		return s, ok
	}
	for _, s := range t.children {
		if s.ID == id {
			return s, true
		}
	}
	return nil, false
}

// NewTree validates spec and returns a tree holding children in start order.
func NewTree(spec Spec, children ...Child) (*Tree, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	t := &Tree{spec: spec}
	for _, c := range children {
		if err := t.Add(c); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Spec returns the tree's configuration.
func (t *Tree) Spec() Spec { return t.spec }

// Add appends a running child after the existing ones.
func (t *Tree) Add(c Child) error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: empty ID", ErrInvalidChild)
	case !c.Restart.valid():
		return fmt.Errorf("%w: child %q: %w: %d", ErrInvalidChild, c.ID, ErrUnknownRestartType, int(c.Restart))
	}
	if _, ok := t.child(c.ID); ok {
		return fmt.Errorf("%w: %q", ErrDuplicateChild, c.ID)
	}
	s := &childState{Child: c, running: true}
	t.children = append(t.children, s)
	switch {
	case t.index != nil:
		t.index[c.ID] = s
	case len(t.children) > smallTree:
		t.index = make(map[string]*childState, len(t.children))
		for _, s := range t.children {
			t.index[s.ID] = s
		}
	}
	return nil
}

// Remove forgets a child. Restarts it already made keep counting against the
// tree's budget. Removing an unknown child does nothing.
func (t *Tree) Remove(id string) {
	if _, ok := t.child(id); !ok {
		return
	}
	t.retain(func(s *childState) bool { return s.ID != id })
}

// retain forgets, in one pass, the children keep rejects. Like Remove, it
// leaves their restarts counting against the tree's budget.
func (t *Tree) retain(keep func(*childState) bool) {
	t.children = slices.DeleteFunc(t.children, func(s *childState) bool {
		if keep(s) {
			return false
		}
		delete(t.index, s.ID) // nothing for a small tree
		return true
	})
}

// trimDead forgets children from the most recently added backwards for as
// long as dead says they are, and returns how many remain. It looks at each
// child it forgets and at one more, so its cost is amortised over Add.
func (t *Tree) trimDead(dead func(id string) bool) int {
	n := len(t.children)
	for n > 0 && dead(t.children[n-1].ID) {
		n--
		delete(t.index, t.children[n].ID)
		t.children[n] = nil // let the state go
	}
	t.children = t.children[:n]
	return n
}

// renew starts child id's own restart count again, for a new incarnation
// under the same id. Its earlier restarts keep counting against the tree's
// budget, as after Remove and Add.
func (t *Tree) renew(id string) {
	if s, ok := t.child(id); ok {
		s.restarts = history{}
		s.running = true
	}
}

// Children returns the children in start order.
func (t *Tree) Children() []Child {
	out := make([]Child, len(t.children))
	for i, s := range t.children {
		out[i] = s.Child
	}
	return out
}

// Restarts returns how many times the child has been restarted over the
// tree's lifetime, replayed restarts included; 0 for an unknown child.
func (t *Tree) Restarts(id string) int {
	if s, ok := t.child(id); ok {
		return s.restarts.total
	}
	return 0
}

// Replay records restarts that happened before this Tree existed, for
// example in a previous process, so that the budget and the backoff carry
// on where they were. Instants may come in any order; Replay of an unknown
// child does nothing.
func (t *Tree) Replay(id string, restarts ...time.Time) {
	s, ok := t.child(id)
	if !ok {
		return
	}
	for _, at := range restarts {
		s.restarts.record(at, t.spec.Budget.Period)
		t.restarts.record(at, t.spec.Budget.Period)
	}
}

// Failed decides what to do about child id failing with f at now. rnd is a
// random number in [0, 1) for the backoff jitter. now must not go backwards
// between calls. A failure of a child the tree does not know escalates.
func (t *Tree) Failed(id string, f Failure, now time.Time, rnd float64) Decision {
	if f.At.IsZero() {
		f.At = now
	}
	s, ok := t.child(id)
	if !ok {
		return Decision{Directive: Escalate, Reason: fmt.Sprintf("%v %q failed with %v", ErrUnknownChild, id, f)}
	}
	s.running = true // a stopped child that fails was evidently started again
	switch t.spec.decide(f) {
	case Restart:
		if s.Restart == Temporary {
			return t.stop(s, "temporary child is not restarted after "+f.Error())
		}
		return t.restart(s, now, rnd, f.Error())
	case Stop:
		if IsPermanent(f.Err) {
			return t.stop(s, "permanent error: "+f.Err.Error())
		}
		return t.stop(s, "not restarting after "+f.Error())
	case Resume:
		return Decision{Directive: Resume, Targets: []string{id}, Reason: "resuming after " + f.Error()}
	default: // Escalate, and any value a custom decider made up
		return Decision{
			Directive: Escalate,
			Restart:   s.restarts.inWindow(now, t.spec.Budget.Period),
			Reason:    "escalating after " + f.Error(),
		}
	}
}

// Exited decides what to do about child id terminating normally at now:
// only Permanent children are restarted, through the budget and with the
// un-jittered backoff Ceiling; Transient and Temporary ones are stopped, and
// Temporary ones forgotten. Exited of an unknown child stops it.
func (t *Tree) Exited(id string, now time.Time) Decision {
	s, ok := t.child(id)
	if !ok {
		return Decision{Directive: Stop, Targets: []string{id}, Reason: fmt.Sprintf("%v %q exited", ErrUnknownChild, id)}
	}
	s.running = true
	if s.Restart == Permanent {
		// Restarts after a normal exit go through the same budget and
		// backoff as after a failure, so a child that keeps exiting cannot
		// spin. There is no random input, so the delay is the top of the
		// jitter range.
		return t.restart(s, now, 1, "normal exit")
	}
	return t.stop(s, s.Restart.String()+" child exited normally")
}

func (t *Tree) stop(s *childState, reason string) Decision {
	s.running = false
	if s.Restart == Temporary {
		t.Remove(s.ID)
	}
	return Decision{Directive: Stop, Targets: []string{s.ID}, Reason: reason}
}

func (t *Tree) restart(s *childState, now time.Time, rnd float64, what string) Decision {
	b := t.spec.Budget
	used := t.restarts.inWindow(now, b.Period)
	own := s.restarts.inWindow(now, b.Period)
	if !b.Unlimited() && used >= b.MaxRestarts {
		return Decision{
			Directive: Escalate,
			Restart:   own,
			Reason:    fmt.Sprintf("restart budget exhausted: %d restarts, %s; last failure: %s", used, b, what),
		}
	}
	t.restarts.record(now, b.Period)
	s.restarts.record(now, b.Period)
	n := own + 1
	d := Decision{Directive: Restart, Restart: n, Delay: t.spec.Backoff.Delay(n, rnd)}
	d.Targets, d.Discard = t.group(s)
	// Concatenation rather than Sprintf: this runs on every restart.
	d.Reason = "restart " + strconv.Itoa(n) + " in " + d.Delay.String() + " after " + what
	return d
}

// group returns the children a restart of s affects under the tree's
// strategy, and the temporary siblings it terminates for good.
func (t *Tree) group(s *childState) (targets, discard []string) {
	if t.spec.Strategy == OneForOne {
		return []string{s.ID}, nil
	}
	from := 0
	if t.spec.Strategy == RestForOne {
		from = slices.Index(t.children, s)
	}
	for _, c := range t.children[from:] {
		switch {
		case c == s:
			targets = append(targets, c.ID)
		case !c.running:
		case c.Restart == Temporary:
			discard = append(discard, c.ID)
		default:
			targets = append(targets, c.ID)
		}
	}
	for _, id := range discard {
		t.Remove(id)
	}
	return targets, discard
}
