package actors

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"
)

var (
	// ErrNoReminderHandler: the grain sets a reminder (or a timer) but
	// does not handle one (ReminderHandler, TimerHandler or their
	// stateful variants).
	ErrNoReminderHandler = errors.New("grain does not handle reminders")
	// ErrInvalidReminder: a reminder or timer outside the limits below.
	ErrInvalidReminder = errors.New("invalid reminder")
)

// Limits of reminders and timers.
const (
	// MaxReminders bounds a grain's reminders: they are stored with its
	// state, and each one changed is an index entry written in the same
	// Consul transaction, which holds 64 operations.
	MaxReminders = 32
	// MaxReminderPayload bounds a reminder's payload: it is stored with
	// the grain's state, whose limit it shares.
	MaxReminderPayload = 4 << 10
	// MinReminderPeriod is the shortest period: a reminder firing is a
	// call and a durable write, so a shorter period is a timer's job.
	MinReminderPeriod = 10 * time.Millisecond
	// MaxReminderDelay bounds how far ahead a reminder or timer may be set
	// (ten years). A due time is stored as Unix nanoseconds, which end in
	// 2262: a delay of 285 years wrapped around to 1727 and fired at once.
	// Ten years is far from that edge and longer than any schedule a
	// grain keeps; a later date is a calendar's job, set again nearer.
	MaxReminderDelay = 10 * 365 * 24 * time.Hour
	// MaxReminderPeriod bounds a periodic reminder's or timer's period
	// (one year: the longest recurring schedule people keep), so its next
	// tick stays within MaxReminderDelay of now as well.
	MaxReminderPeriod = 366 * 24 * time.Hour
)

var reminderName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Reminder is a durable reminder as its grain sees it: in OnReminder, the
// firing (Due is when it was due); in GrainContext.Reminders, the
// reminder (Due is when it fires next). In JSON it has the names and forms
// of the state API's reminders: {"name", "due", "period": "2s",
// "payload" (JSON) or "payload_base64"}.
type Reminder struct {
	Name    string
	Payload []byte
	Due     time.Time
	// Period is the time between firings; 0: it fires once.
	Period time.Duration
}

// ReminderHandler is implemented by grains that set durable reminders
// (GrainContext.SetReminder). A reminder fires whether or not the grain
// is active (it is activated), on whichever member hosts it then, and at
// least once per due time: a firing whose effect was not stored (the
// member died first) fires again. Its effect on the grain's stored state
// and reminders is applied once, like a message's. An error is logged;
// the reminder moves on to its next firing all the same.
type ReminderHandler interface {
	OnReminder(ctx GrainContext, r Reminder) error
}

// TimerHandler is implemented by grains that set timers
// (GrainContext.SetTimer): callbacks into the activation's mailbox,
// never concurrent with its messages, that end with the activation and
// do not keep it from going idle.
type TimerHandler interface {
	OnTimer(ctx GrainContext, name string, payload []byte) error
}

// StatefulReminderHandler is ReminderHandler for a grain with durable
// state (GrainWithState): it gets the state and returns the state to
// store, as Receive does.
type StatefulReminderHandler[State any] interface {
	OnReminder(ctx GrainContext, state State, r Reminder) (State, error)
}

// StatefulTimerHandler is TimerHandler for a grain with durable state;
// the state it returns is stored as after a message.
type StatefulTimerHandler[State any] interface {
	OnTimer(ctx GrainContext, state State, name string, payload []byte) (State, error)
}

// reminderAbility is implemented by the runtime's wrappers of typed
// grains, which have OnReminder and OnTimer methods whatever the grain
// they wrap handles.
type reminderAbility interface {
	handlesReminders() bool
	handlesTimers() bool
}

// HandlesReminders reports whether g handles durable reminders.
func HandlesReminders(g Grain) bool {
	if w, ok := g.(reminderAbility); ok {
		return w.handlesReminders()
	}
	_, ok := g.(ReminderHandler)
	return ok
}

// HandlesTimers reports whether g handles timers.
func HandlesTimers(g Grain) bool {
	if w, ok := g.(reminderAbility); ok {
		return w.handlesTimers()
	}
	_, ok := g.(TimerHandler)
	return ok
}

// ValidateReminder checks a reminder or timer against the limits above;
// the error wraps ErrInvalidReminder.
func ValidateReminder(name string, after, period time.Duration, payload []byte) error {
	switch {
	case !reminderName.MatchString(name):
		return fmt.Errorf("%w: name %.80q must match %s", ErrInvalidReminder, name, reminderName)
	case after < 0:
		return fmt.Errorf("%w: %s: negative delay %v", ErrInvalidReminder, name, after)
	case after > MaxReminderDelay:
		return fmt.Errorf("%w: %s: delay %v is over the maximum of %v (10 years)", ErrInvalidReminder, name, after, MaxReminderDelay)
	case period < 0:
		return fmt.Errorf("%w: %s: negative period %v", ErrInvalidReminder, name, period)
	case period != 0 && period < MinReminderPeriod:
		return fmt.Errorf("%w: %s: period %v is under %v", ErrInvalidReminder, name, period, MinReminderPeriod)
	case period > MaxReminderPeriod:
		return fmt.Errorf("%w: %s: period %v is over the maximum of %v (366 days)", ErrInvalidReminder, name, period, MaxReminderPeriod)
	case len(payload) > MaxReminderPayload:
		return fmt.Errorf("%w: %s: payload of %d bytes, the limit is %d", ErrInvalidReminder, name, len(payload), MaxReminderPayload)
	}
	return nil
}

// Millis converts a count of milliseconds from a request (a JSON
// "after_ms") into a Duration without overflowing: a count past what a
// Duration holds becomes the largest Duration (or the smallest, when
// negative), which ValidateReminder refuses, instead of wrapping around
// to an arbitrary delay as time.Duration(ms)*time.Millisecond does.
func Millis(ms int64) time.Duration {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}

func (t typedGrain[Req, Resp]) handlesReminders() bool { _, ok := t.g.(ReminderHandler); return ok }
func (t typedGrain[Req, Resp]) handlesTimers() bool    { _, ok := t.g.(TimerHandler); return ok }

func (t typedGrain[Req, Resp]) OnReminder(ctx GrainContext, r Reminder) error {
	if h, ok := t.g.(ReminderHandler); ok {
		return h.OnReminder(ctx, r)
	}
	return ErrNoReminderHandler
}

func (t typedGrain[Req, Resp]) OnTimer(ctx GrainContext, name string, payload []byte) error {
	if h, ok := t.g.(TimerHandler); ok {
		return h.OnTimer(ctx, name, payload)
	}
	return ErrNoReminderHandler
}

func (s *statefulGrain[Req, Resp, State]) handlesReminders() bool {
	switch s.g.(type) {
	case StatefulReminderHandler[State], ReminderHandler:
		return true
	}
	return false
}

func (s *statefulGrain[Req, Resp, State]) handlesTimers() bool {
	switch s.g.(type) {
	case StatefulTimerHandler[State], TimerHandler:
		return true
	}
	return false
}

func (s *statefulGrain[Req, Resp, State]) OnReminder(ctx GrainContext, r Reminder) error {
	switch h := s.g.(type) {
	case StatefulReminderHandler[State]:
		next, err := h.OnReminder(ctx, s.state, r)
		if err == nil {
			s.state = next
		}
		return err
	case ReminderHandler:
		return h.OnReminder(ctx, r)
	}
	return ErrNoReminderHandler
}

func (s *statefulGrain[Req, Resp, State]) OnTimer(ctx GrainContext, name string, payload []byte) error {
	switch h := s.g.(type) {
	case StatefulTimerHandler[State]:
		next, err := h.OnTimer(ctx, s.state, name, payload)
		if err == nil {
			s.state = next
		}
		return err
	case TimerHandler:
		return h.OnTimer(ctx, name, payload)
	}
	return ErrNoReminderHandler
}
