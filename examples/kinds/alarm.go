package kinds

import (
	"fmt"
	"time"

	"github.com/granary-rt/granary/actors"
)

// AlarmReq is a request to the alarm grain: {"op":"set","name":"wake",
// "after_ms":500,"period_ms":0}, {"op":"cancel","name":"wake"} or
// {"op":"get"}.
type AlarmReq struct {
	Op       string `json:"op"`
	Name     string `json:"name,omitempty"`
	AfterMs  int64  `json:"after_ms,omitempty"`
	PeriodMs int64  `json:"period_ms,omitempty"`
}

// AlarmFiring is one firing of an alarm: when it was due, when its
// handler ran (both Unix nanoseconds, this member's clock) and where.
type AlarmFiring struct {
	Name   string `json:"name"`
	DueNs  int64  `json:"due_ns"`
	AtNs   int64  `json:"at_ns"`
	Member string `json:"member"`
}

// AlarmResp is the alarm's answer: its reminders and its last firings.
type AlarmResp struct {
	Reminders []actors.Reminder `json:"reminders"`
	Firings   []AlarmFiring     `json:"firings"`
	Member    string            `json:"member"`
}

// alarmState is the alarm's durable state: its last keepFirings firings.
type alarmState struct {
	Firings []AlarmFiring `json:"firings,omitempty"`
}

// keepFirings bounds the firings an alarm keeps: enough for a minute of
// a 10-second period, small enough to keep its record a few KB.
const keepFirings = 16

// alarm sets durable reminders on request and records each firing in its
// state, stored before the firing counts as done: a firing in its list
// happened, once, whatever member fired it.
type alarm struct{}

func (alarm) Receive(ctx actors.GrainContext, st alarmState, req AlarmReq) (alarmState, AlarmResp, error) {
	var err error
	switch req.Op {
	case "set":
		err = ctx.SetReminder(req.Name, actors.Millis(req.AfterMs), actors.Millis(req.PeriodMs), nil)
	case "cancel":
		err = ctx.CancelReminder(req.Name)
	case "get":
	default:
		err = fmt.Errorf("alarm: unknown op %q (set, cancel or get)", req.Op)
	}
	return st, AlarmResp{Reminders: ctx.Reminders(), Firings: st.Firings, Member: ctx.MemberID()}, err
}

func (alarm) OnReminder(ctx actors.GrainContext, st alarmState, r actors.Reminder) (alarmState, error) {
	f := AlarmFiring{Name: r.Name, DueNs: r.Due.UnixNano(), AtNs: time.Now().UnixNano(), Member: ctx.MemberID()}
	next := append(append(make([]AlarmFiring, 0, len(st.Firings)+1), st.Firings...), f)
	if len(next) > keepFirings {
		next = next[len(next)-keepFirings:]
	}
	return alarmState{Firings: next}, nil
}

// Alarm is the stock reminder grain: durable reminders that fire whether
// or not the grain is active, and survive the loss of any member; each
// firing is recorded with its lateness. The reminder benchmarks use it.
var Alarm = mustGrain(actors.GrainWithState("alarm", func() actors.StatefulGrain[AlarmReq, AlarmResp, alarmState] { return alarm{} },
	actors.GrainExample(`{"op":"set","name":"wake","after_ms":500}`)))
