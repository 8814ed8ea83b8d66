package grains

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
)

// grainTimer is one of an activation's timers. Its time.Timer only sends
// a timerFired to the activation's mailbox, so the handler runs there,
// never concurrently with the grain's messages.
type grainTimer struct {
	t       *time.Timer
	gen     uint64 // tells a firing of this timer from one it replaced
	due     time.Time
	period  time.Duration
	payload []byte
}

// timerFired is a timer's firing in the activation's mailbox. It does not
// count as activity: a grain whose only traffic is its timers goes idle.
// (It resets protoactor's receive time-out all the same: a message marked
// NotInfluenceReceiveTimeout races with the time-out's timer in
// protoactor-go, so onTimer checks idleness itself.)
type timerFired struct {
	name string
	gen  uint64
}

func (g *grainContext) SetTimer(name string, after, period time.Duration, payload []byte) error {
	a := g.a
	if err := actors.ValidateReminder(name, after, period, payload); err != nil {
		return err
	}
	if !actors.HandlesTimers(a.grain) {
		return fmt.Errorf("%w: grain kind %s has no timer handler", actors.ErrNoReminderHandler, a.kind.Name())
	}
	if _, ok := a.timers[name]; !ok && len(a.timers) >= actors.MaxReminders {
		return fmt.Errorf("%w: the activation has %d timers, the limit", actors.ErrInvalidReminder, len(a.timers))
	}
	g.CancelTimer(name)
	if a.timers == nil {
		a.timers = map[string]*grainTimer{}
	}
	a.timerGen++
	t := &grainTimer{gen: a.timerGen, due: time.Now().Add(after), period: period, payload: append([]byte(nil), payload...)}
	a.timers[name] = t
	a.arm(name, t)
	return nil
}

func (g *grainContext) CancelTimer(name string) {
	if t, ok := g.a.timers[name]; ok {
		t.t.Stop()
		delete(g.a.timers, name)
	}
}

// arm starts t's time.Timer for its due time.
func (a *activation) arm(name string, t *grainTimer) {
	self, sys, msg := a.self, a.h.sys, &timerFired{name: name, gen: t.gen}
	t.t = time.AfterFunc(time.Until(t.due), func() { sys.Root.Send(self, msg) })
}

// stopTimers ends every timer with the activation.
func (a *activation) stopTimers() {
	for name, t := range a.timers {
		t.t.Stop()
		delete(a.timers, name)
	}
}

// onTimer runs a timer's handler in the activation, and stores what it
// changed as after a message.
func (a *activation) onTimer(c actor.Context, msg *timerFired) {
	t, ok := a.timers[msg.name]
	if !ok || t.gen != msg.gen || a.refusal != nil || a.retiring || a.grain == nil {
		return
	}
	if a.h.fenced() || a.fencedSinceClaim() {
		a.refuse(c, a.fencedResponse())
		return
	}
	if !a.kind.IsSingleton() && time.Since(a.lastRequest) >= a.h.cfg.IdleTimeout {
		a.log.Debug("grain idle but for its timers; deactivating")
		a.retire(c, nil)
		return
	}
	if tick := nextTick(t.due, time.Now(), t.period); !tick.IsZero() {
		t.due = tick
		a.arm(msg.name, t)
	} else {
		delete(a.timers, msg.name)
	}
	h, _ := a.grain.(actors.TimerHandler)
	if h == nil {
		return
	}
	a.run(c, time.Time{}, func(gc actors.GrainContext) ([]byte, error) { return nil, h.OnTimer(gc, msg.name, t.payload) },
		func(c actor.Context, _ []byte, err, perr error) { a.timerRan(c, msg.name, err, perr) })
}

// timerRan stores what the timer name's handler changed, as after a
// message.
func (a *activation) timerRan(c actor.Context, name string, err, perr error) {
	if perr != nil {
		a.log.Warn("timer handler panicked; deactivating", "timer", name, "err", perr)
		a.revertState()
		a.retire(c, nil)
		return
	}
	if err != nil {
		a.log.Warn("timer handler failed", "timer", name, "err", err)
		a.revertState()
		return
	}
	if a.h.leaseLost() || a.fencedSinceClaim() {
		a.refuse(c, a.fencedResponse())
		return
	}
	a.saveState(c, nil, nil)
}
