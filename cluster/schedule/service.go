package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxIDBytes bounds a schedule's id, so a run's id (the schedule's and 17
// bytes of its time) stays a valid task id.
const MaxIDBytes = 100

// Service is a member's schedule service: it keeps the schedules (declare,
// read, pause, delete) and fires those this member owns (fire.go).
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// New makes a Service; Start starts its firing.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Clock, kick: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// ParseOverlap reads an overlap policy: skip (also ""), queue_one or allow.
func ParseOverlap(name string) (messages.Overlap, error) {
	switch name {
	case "", "skip":
		return messages.Overlap_OVERLAP_SKIP, nil
	case "queue_one":
		return messages.Overlap_OVERLAP_QUEUE_ONE, nil
	case "allow":
		return messages.Overlap_OVERLAP_ALLOW, nil
	}
	return 0, fmt.Errorf("%w: overlap %q: want skip, queue_one or allow", api.ErrInvalidArgument, name)
}

// OverlapName names an overlap policy as ParseOverlap reads it.
func OverlapName(o messages.Overlap) string {
	switch o {
	case messages.Overlap_OVERLAP_QUEUE_ONE:
		return "queue_one"
	case messages.Overlap_OVERLAP_ALLOW:
		return "allow"
	}
	return "skip"
}

// SpecOf parses a schedule's cron spec in its time zone. Errors wrap
// api.ErrInvalidArgument and ErrInvalidSpec.
func SpecOf(s *messages.Schedule) (Spec, error) {
	loc := time.UTC
	if z := s.GetTimeZone(); z != "" {
		var err error
		if loc, err = time.LoadLocation(z); err != nil || z == "Local" {
			return Spec{}, fmt.Errorf("%w: %w: time zone %q: want an IANA name such as Europe/Paris", api.ErrInvalidArgument, ErrInvalidSpec, z)
		}
	}
	spec, err := Parse(s.GetCron(), loc)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	return spec, nil
}

// NextRun is when the schedule's next run is due (zero: paused, or never).
func NextRun(s *messages.Schedule) time.Time {
	spec, err := SpecOf(s)
	if err != nil || s.GetPaused() {
		return time.Time{}
	}
	return spec.Next(s.GetLastSlot().AsTime())
}

// check validates a declaration: its id, spec, zone, overlap, catch-up
// window and task template (built as its first run would be). Errors wrap
// api.ErrInvalidArgument.
func (s *Service) check(d *messages.Schedule) error {
	invalid := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", api.ErrInvalidArgument, fmt.Sprintf(format, a...))
	}
	switch id := d.GetId(); {
	case !api.ValidID(id) || len(id) > MaxIDBytes:
		return invalid("schedule id %.40q must match %s and hold at most %d bytes", id, api.IDPattern, MaxIDBytes)
	case d.GetOverlap() == messages.Overlap_OVERLAP_UNSPECIFIED || messages.Overlap_name[int32(d.GetOverlap())] == "":
		return invalid("overlap policy %d: want skip, queue_one or allow", d.GetOverlap())
	case d.GetCatchupWindow() != nil && (d.GetCatchupWindow().AsDuration() < 0 || d.GetCatchupWindow().AsDuration() > MaxCatchUpWindow):
		return invalid("catch-up window %s: want between 0 and %s", d.GetCatchupWindow().AsDuration(), MaxCatchUpWindow)
	case d.GetTemplate().GetKind() == "":
		return invalid("the task template needs a kind")
	}
	if _, err := SpecOf(d); err != nil {
		return err
	}
	sub := SubmissionOf(d.GetId(), d.GetTemplate(), s.now())
	if _, err := tasks.BuildTask(s.cfg.Registry, sub, s.cfg.Member, s.now()); err != nil {
		return fmt.Errorf("%w (in the schedule's task template)", err)
	}
	return nil
}

// declaration is the part of a schedule a client declares (fields 1-29).
func declaration(s *messages.Schedule) *messages.Schedule {
	return &messages.Schedule{Id: s.GetId(), Cron: s.GetCron(), TimeZone: s.GetTimeZone(), Overlap: s.GetOverlap(),
		Paused: s.GetPaused(), Template: s.GetTemplate(), CatchupWindow: s.GetCatchupWindow()}
}

// Put declares a schedule, or changes one: its firing state stays (a
// paused schedule resumed starts from now). The same declaration again
// changes nothing (created false). A schedule is checked before anything
// is stored: a bad one changes nothing.
func (s *Service) Put(ctx context.Context, d *messages.Schedule) (rec store.ScheduleRecord, created bool, err error) {
	d = declaration(d)
	if err := s.check(d); err != nil {
		return store.ScheduleRecord{}, false, err
	}
	defer s.Kick()
	for range conflictTries {
		cur, err := s.cfg.Store.GetSchedule(ctx, d.GetId())
		now := timestamppb.New(s.now())
		switch {
		case errors.Is(err, store.ErrNotFound):
			n := proto.Clone(d).(*messages.Schedule)
			n.CreatedAt, n.UpdatedAt, n.LastSlot = now, now, now
			rec, err = s.cfg.Store.PutSchedule(ctx, n, 0)
			created = true
		case err != nil:
			return store.ScheduleRecord{}, false, storeErr(err)
		case proto.Equal(declaration(cur.Schedule), d):
			return cur, false, nil
		default:
			n := proto.Clone(cur.Schedule).(*messages.Schedule)
			resumed := n.GetPaused() && !d.GetPaused()
			n.Cron, n.TimeZone, n.Overlap, n.Paused = d.GetCron(), d.GetTimeZone(), d.GetOverlap(), d.GetPaused()
			n.Template, n.CatchupWindow = d.GetTemplate(), d.GetCatchupWindow()
			n.UpdatedAt = now
			if resumed {
				n.LastSlot, n.Queued = now, nil
			}
			rec, err = s.cfg.Store.PutSchedule(ctx, n, cur.Revision)
			created = false
		}
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return store.ScheduleRecord{}, false, storeErr(err)
			}
			return rec, created, nil
		}
	}
	return store.ScheduleRecord{}, false, fmt.Errorf("%w: schedule %s keeps changing; try again", api.ErrUnavailable, d.GetId())
}

// conflictTries bounds the rereads of a schedule whose record its firing
// member changes under a client's write.
const conflictTries = 10

// Get returns a schedule; api.ErrNotFound if there is none.
func (s *Service) Get(ctx context.Context, id string) (store.ScheduleRecord, error) {
	rec, err := s.cfg.Store.GetSchedule(ctx, id)
	return rec, storeErr(err)
}

// List returns every schedule, by id.
func (s *Service) List(ctx context.Context) ([]store.ScheduleRecord, error) {
	recs, err := s.cfg.Store.ListSchedules(ctx)
	return recs, storeErr(err)
}

// Delete removes a schedule and returns it as it stood: no run starts
// after it. Its runs stay, as ordinary tasks.
func (s *Service) Delete(ctx context.Context, id string) (store.ScheduleRecord, error) {
	for range conflictTries {
		cur, err := s.cfg.Store.GetSchedule(ctx, id)
		if err != nil {
			return store.ScheduleRecord{}, storeErr(err)
		}
		if err := s.cfg.Store.DeleteSchedule(ctx, id, cur.Revision); !errors.Is(err, store.ErrConflict) {
			return cur, storeErr(err)
		}
	}
	return store.ScheduleRecord{}, fmt.Errorf("%w: schedule %s keeps changing; try again", api.ErrUnavailable, id)
}

// SetPaused pauses a schedule (no run starts; due times pass without one)
// or resumes it (from now: the times that passed while it was paused are
// not caught up).
func (s *Service) SetPaused(ctx context.Context, id string, paused bool) (store.ScheduleRecord, error) {
	cur, err := s.Get(ctx, id)
	if err != nil {
		return store.ScheduleRecord{}, err
	}
	d := declaration(cur.Schedule)
	d.Paused = paused
	rec, _, err := s.Put(ctx, d)
	return rec, err
}

// storeErr maps the store's errors onto the API's.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return err
}

// Status is a schedule as the API shows it.
func Status(rec store.ScheduleRecord) *api.Schedule {
	s := rec.Schedule
	tpl := s.GetTemplate()
	task := api.SubmitRequest{Kind: tpl.GetKind(), Labels: tpl.GetLabels()}
	task.Payload, _ = api.JSONOrBase64(tpl.GetPayload())
	if p := policyOf(Overrides(tpl)); p != (api.Policy{}) {
		task.Policy = &p
	}
	out := &api.Schedule{
		ID: s.GetId(),
		ScheduleSpec: api.ScheduleSpec{Cron: s.GetCron(), TimeZone: s.GetTimeZone(), Overlap: OverlapName(s.GetOverlap()),
			Paused: s.GetPaused(), Task: task},
		LastSlot:  timePtr(s.GetLastSlot()),
		LastRun:   s.GetLastRun(),
		Queued:    timePtr(s.GetQueued()),
		Runs:      s.GetRuns(),
		Skipped:   s.GetSkipped(),
		Missed:    s.GetMissed(),
		FiredBy:   s.GetFiredBy(),
		FiredAt:   timePtr(s.GetFiredAt()),
		CreatedAt: s.GetCreatedAt().AsTime(),
		UpdatedAt: s.GetUpdatedAt().AsTime(),
		Revision:  rec.Revision,
	}
	if w := s.GetCatchupWindow(); w != nil {
		out.CatchupWindow = api.Ptr(api.Duration(w.AsDuration()))
	}
	if next := NextRun(s); !next.IsZero() {
		out.NextRun = &next
	}
	return out
}

func timePtr(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}
