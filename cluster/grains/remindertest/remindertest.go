// Package remindertest is a grain kind for testing reminders and timers:
// it sets, cancels and lists them on request, counts their firings in its
// durable state, and reports each firing to a Recorder, so tests (and
// benchmarks) can check when and where each one fired.
package remindertest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/granary-rt/granary/actors"
)

// Kind is the kind's name.
const Kind = "reminding"

// Command is a request to the grain.
type Command struct {
	// Op is set, cancel, timer, canceltimer, get or replace (cancel every
	// reminder and set Count others, named Name0, Name1, ...).
	Op       string `json:"op"`
	Count    int    `json:"count,omitempty"`
	Name     string `json:"name,omitempty"`
	AfterMs  int64  `json:"after_ms,omitempty"`
	PeriodMs int64  `json:"period_ms,omitempty"`
	Payload  string `json:"payload,omitempty"`
	// Fail makes the request fail after setting what it asks: nothing of
	// it is stored.
	Fail bool `json:"fail,omitempty"`
}

// State is the grain's durable state: its reminders' firings by name.
type State struct {
	Fired map[string]int `json:"fired,omitempty"`
}

// Reply answers a Command.
type Reply struct {
	Reminders  []actors.Reminder `json:"reminders"`
	Fired      map[string]int    `json:"fired"`
	Activation string            `json:"activation"`
	Member     string            `json:"member"`
}

// Firing is one firing of a reminder or timer, as the grain saw it.
type Firing struct {
	Identity, Name, Member, Activation string
	Payload                            string
	Timer                              bool
	Due, At                            time.Time
}

// Recorder collects firings.
type Recorder struct {
	mu      sync.Mutex
	firings []Firing
}

func (r *Recorder) add(f Firing) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.firings = append(r.firings, f)
}

// Firings returns the firings so far, those of identity only unless it is "".
func (r *Recorder) Firings(identity string) []Firing {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Firing
	for _, f := range r.firings {
		if identity == "" || f.Identity == identity {
			out = append(out, f)
		}
	}
	return out
}

// Register adds the kind to reg, its firings going to rec.
func Register(reg *actors.Registry, rec *Recorder) error {
	k, err := actors.GrainWithState(Kind, func() actors.StatefulGrain[Command, Reply, State] { return grain{rec: rec} })
	if err != nil {
		return err
	}
	return reg.RegisterGrain(k)
}

type grain struct{ rec *Recorder }

var errAsked = errors.New("failed as asked")

func (g grain) Receive(ctx actors.GrainContext, st State, c Command) (State, Reply, error) {
	var err error
	after, period := actors.Millis(c.AfterMs), actors.Millis(c.PeriodMs)
	switch c.Op {
	case "set":
		err = ctx.SetReminder(c.Name, after, period, []byte(c.Payload))
	case "cancel":
		err = ctx.CancelReminder(c.Name)
	case "timer":
		err = ctx.SetTimer(c.Name, after, period, []byte(c.Payload))
	case "canceltimer":
		ctx.CancelTimer(c.Name)
	case "get":
	case "replace":
		err = replace(ctx, c.Name, c.Count, after)
	default:
		err = fmt.Errorf("unknown op %q", c.Op)
	}
	if err == nil && c.Fail {
		err = errAsked
	}
	return st, Reply{Reminders: ctx.Reminders(), Fired: st.Fired, Activation: ctx.ActivationID(), Member: ctx.MemberID()}, err
}

// replace cancels every reminder of the grain and sets n others.
func replace(ctx actors.GrainContext, prefix string, n int, after time.Duration) error {
	for _, r := range ctx.Reminders() {
		if err := ctx.CancelReminder(r.Name); err != nil {
			return err
		}
	}
	for i := range n {
		if err := ctx.SetReminder(fmt.Sprintf("%s%d", prefix, i), after, 0, nil); err != nil {
			return err
		}
	}
	return nil
}

func (g grain) OnReminder(ctx actors.GrainContext, st State, r actors.Reminder) (State, error) {
	g.rec.add(Firing{Identity: ctx.Identity(), Name: r.Name, Member: ctx.MemberID(), Activation: ctx.ActivationID(),
		Payload: string(r.Payload), Due: r.Due, At: time.Now()})
	next := State{Fired: map[string]int{}}
	for k, v := range st.Fired {
		next.Fired[k] = v
	}
	next.Fired[r.Name]++
	return next, nil
}

func (g grain) OnTimer(ctx actors.GrainContext, st State, name string, payload []byte) (State, error) {
	g.rec.add(Firing{Identity: ctx.Identity(), Name: name, Member: ctx.MemberID(), Activation: ctx.ActivationID(),
		Payload: string(payload), Timer: true, At: time.Now()})
	return st, nil
}
