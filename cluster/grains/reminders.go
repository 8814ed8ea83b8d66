package grains

import (
	"fmt"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/messages"
)

// An activation's reminders: a.reminders is the working copy the grain's
// handlers change (GrainContext.SetReminder), stored with the record by
// saveState; a.record.Reminders is what is stored. The working copy's
// elements are never changed in place, only replaced, so the two may
// share them.

// keepsRecord reports whether the activation loads and stores a record:
// its kind has durable state, or it handles reminders (stored in the
// record whatever the kind).
func (a *activation) keepsRecord() bool {
	_, durable := a.grain.(actors.Durable)
	return durable || actors.HandlesReminders(a.grain)
}

func (a *activation) reminderStore() (ReminderStore, error) {
	rs := a.h.reminderIndex
	if rs == nil {
		return nil, fmt.Errorf("%w: member %s has no reminder store", actors.ErrNoReminderHandler, a.h.cfg.Member)
	}
	return rs, nil
}

func (g *grainContext) SetReminder(name string, after, period time.Duration, payload []byte) error {
	a := g.a
	if err := actors.ValidateReminder(name, after, period, payload); err != nil {
		return err
	}
	if !actors.HandlesReminders(a.grain) {
		return fmt.Errorf("%w: grain kind %s", actors.ErrNoReminderHandler, a.kind.Name())
	}
	if _, err := a.reminderStore(); err != nil {
		return err
	}
	next := make([]*messages.StoredReminder, 0, len(a.reminders)+1)
	for _, r := range a.reminders {
		if r.GetName() != name {
			next = append(next, r)
		}
	}
	if len(next) >= actors.MaxReminders {
		return fmt.Errorf("%w: grain %s/%s has %d reminders, the limit", actors.ErrInvalidReminder, a.kind.Name(), a.identity, len(next))
	}
	a.reminders = append(next, &messages.StoredReminder{Name: name, DueUnixNano: time.Now().Add(after).UnixNano(),
		PeriodNanos: int64(period), Payload: append([]byte(nil), payload...)})
	return nil
}

func (g *grainContext) CancelReminder(name string) error {
	a := g.a
	next := make([]*messages.StoredReminder, 0, len(a.reminders))
	for _, r := range a.reminders {
		if r.GetName() != name {
			next = append(next, r)
		}
	}
	a.reminders = next
	return nil
}

func (g *grainContext) Reminders() []actors.Reminder {
	out := make([]actors.Reminder, 0, len(g.a.reminders))
	for _, r := range g.a.reminders {
		out = append(out, reminderOf(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func reminderOf(r *messages.StoredReminder) actors.Reminder {
	return actors.Reminder{Name: r.GetName(), Payload: r.GetPayload(), Due: time.Unix(0, r.GetDueUnixNano()), Period: time.Duration(r.GetPeriodNanos())}
}

// indexChanges is what changes in the reminder index when the stored
// reminders go from old to next.
func indexChanges(old, next []*messages.StoredReminder) []IndexChange {
	was := make(map[string]int64, len(old))
	for _, r := range old {
		was[r.GetName()] = r.GetDueUnixNano()
	}
	var out []IndexChange
	for _, r := range next {
		due, ok := was[r.GetName()]
		delete(was, r.GetName())
		if !ok || due != r.GetDueUnixNano() {
			out = append(out, IndexChange{Name: r.GetName(), Due: time.Unix(0, r.GetDueUnixNano())})
		}
	}
	for name := range was {
		out = append(out, IndexChange{Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// nextTick is a periodic reminder's next due time after a firing due at
// due: the first tick of its period after now, so that ticks missed while
// the grain was unreachable fire once, not once each, and the reminder
// keeps its phase.
func nextTick(due, now time.Time, period time.Duration) time.Time {
	if period <= 0 {
		return time.Time{}
	}
	if !now.Before(due) {
		return due.Add(period * (now.Sub(due)/period + 1))
	}
	return due.Add(period)
}

// fireReminder fires the grain's reminder as req asks, unless the stored
// reminder is not due then (a firing repeated after a lost answer or by
// two members that both thought they owned its shard): the answer then
// only says when it is due. The reminder moves to its next tick (or is
// removed) in the same write as the handler's changes.
func (a *activation) fireReminder(c actor.Context, req *messages.GrainRequest) {
	if !a.admit(c) {
		return
	}
	fire := req.GetReminder()
	var r *messages.StoredReminder
	for _, s := range a.reminders {
		if s.GetName() == fire.GetName() {
			r = s
		}
	}
	if r == nil || r.GetDueUnixNano() != fire.GetDueUnixNano() || !a.keepsRecord() {
		a.reply(c, a.reminderReply(fire.GetName()))
		return
	}
	due := time.Unix(0, r.GetDueUnixNano())
	next := make([]*messages.StoredReminder, 0, len(a.reminders))
	for _, s := range a.reminders {
		if s != r {
			next = append(next, s)
		}
	}
	if tick := nextTick(due, time.Now(), time.Duration(r.GetPeriodNanos())); !tick.IsZero() {
		next = append(next, &messages.StoredReminder{Name: r.GetName(), DueUnixNano: tick.UnixNano(), PeriodNanos: r.GetPeriodNanos(), Payload: r.GetPayload()})
	}
	a.reminders = next
	h, _ := a.grain.(actors.ReminderHandler)
	if h == nil || !actors.HandlesReminders(a.grain) {
		a.log.Warn("reminder fired for a grain that does not handle reminders; moved on", "reminder", r.GetName())
		a.reminderFired(c, r, next, nil, nil)
		return
	}
	a.run(c, requestDeadline(req), func(gc actors.GrainContext) ([]byte, error) { return nil, h.OnReminder(gc, reminderOf(r)) },
		func(c actor.Context, _ []byte, err, perr error) { a.reminderFired(c, r, next, err, perr) })
}

// reminderFired stores the firing of r (the reminder moved to its next
// tick, next, and what its handler changed) and answers it.
func (a *activation) reminderFired(c actor.Context, r *messages.StoredReminder, next []*messages.StoredReminder, err, perr error) {
	if perr != nil {
		err = perr
	}
	if err != nil {
		// The firing changes nothing but the reminder's move.
		a.log.Warn("reminder handler failed", "reminder", r.GetName(), "err", err)
		a.revertState()
		a.reminders = next
	}
	if perr != nil {
		a.retire(c, nil) // its in-memory state may be half-updated
	}
	if a.h.leaseLost() || a.fencedSinceClaim() {
		a.fence(c)
		return
	}
	if resp := a.saveState(c, nil, nil); resp != nil {
		resp.Member, resp.ActivationId = a.h.cfg.Member, a.id
		a.reply(c, resp)
		return
	}
	a.reply(c, a.reminderReply(r.GetName()))
}

// reminderReply answers a firing with when the reminder is due next as
// stored (0: it is gone).
func (a *activation) reminderReply(name string) *messages.GrainResponse {
	resp := &messages.GrainResponse{Member: a.h.cfg.Member, ActivationId: a.id}
	for _, s := range a.record.GetReminders() {
		if s.GetName() == name {
			resp.NextDueUnixNano = s.GetDueUnixNano()
		}
	}
	return resp
}
