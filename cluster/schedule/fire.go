package schedule

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Firing: every member runs one loop that reads the schedules (every
// Config.Rescan, or at the next slot due, whichever comes first) and fires
// those it owns by placement. A firing is write-ahead: the decision (the
// slots to run, the firing state after them) is written to the schedule's
// record with check-and-set first, then the runs are submitted, then the
// record's list of runs in flight is cleared. A member killed anywhere in
// between leaves the decision in the record, and whoever fires the schedule
// next submits those runs again: their ids derive from the schedule and the
// slot, so a run submitted twice is one task. Two members that both believe
// they own a schedule (a view changing) decide from the same record; one
// check-and-set wins, the other rereads.

// Start starts the firing loop. Stop ends it.
func (s *Service) Start() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		s.loop()
	}()
}

// Stop ends the firing loop and waits for it. It is safe to call twice, and
// without Start.
func (s *Service) Stop() {
	s.stopOnce.Do(func() {
		if s.stop == nil {
			return
		}
		close(s.stop)
		<-s.done
	})
}

// Kick has the loop read the schedules now (one was declared or changed).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) loop() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-t.C:
		}
		wait := s.scan()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// scan fires the schedules this member owns that are due, and returns how
// long to wait before the next scan.
func (s *Service) scan() time.Duration {
	next := s.now().Add(s.cfg.Rescan)
	if s.cfg.Fenced != nil && s.cfg.Fenced() {
		return s.cfg.Rescan
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	recs, err := s.cfg.Store.ListSchedules(ctx)
	cancel()
	if err != nil {
		s.log.Warn("schedules: cannot read the schedules; trying again", "retry_in", s.cfg.Rescan, "err", err)
		return s.cfg.Rescan
	}
	// Schedules due together (every @every of one interval is due at the
	// same instants) fire side by side: one after the other, the last of
	// a hundred waited for the store writes and submits of all the others.
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, s.cfg.Parallel)
	)
	for _, rec := range recs {
		if !s.owns(rec.Schedule) {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if at := s.fire(rec); !at.IsZero() {
				mu.Lock()
				if at.Before(next) {
					next = at
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return max(time.Until(next), time.Millisecond)
}

// owns reports whether this member fires the schedule.
func (s *Service) owns(sch *messages.Schedule) bool {
	if sch.GetPaused() {
		return false
	}
	if s.cfg.Owner == nil {
		return true
	}
	// No owner (no live member hosts the kind, or none is known yet): no
	// member fires it; the slots it misses are caught up by the first
	// member that owns it again.
	return s.cfg.Owner(sch.GetTemplate().GetKind(), sch.GetId()) == s.cfg.Member
}

// fire brings one schedule up to now and returns when it is due next (zero:
// no sooner than the next scan).
func (s *Service) fire(rec store.ScheduleRecord) time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	sch := rec.Schedule
	log := s.log.With("schedule", sch.GetId())
	spec, err := SpecOf(sch)
	if err != nil {
		log.Warn("schedules: cannot read the schedule's spec; not firing it", "err", err)
		return time.Time{}
	}
	if len(sch.GetFiring()) > 0 {
		// Runs decided by a firing that did not finish (its member died,
		// or a submit failed): submit them again, then clear them.
		if rec, err = s.submitRuns(ctx, rec); err != nil {
			log.Warn("schedules: runs not submitted yet; trying again", "err", err)
			return time.Time{}
		}
		sch = rec.Schedule
	}
	busy, err := s.busy(ctx, sch)
	if err != nil {
		log.Warn("schedules: cannot read the last run; trying again", "run", sch.GetLastRun(), "err", err)
		return time.Time{}
	}
	now := s.now()
	d := Plan(State{LastSlot: sch.GetLastSlot().AsTime(), Queued: optTime(sch.GetQueued()), Busy: busy}, s.rules(sch, spec), now)
	if len(d.Fire) == 0 && d.Skipped == 0 && d.Missed == 0 && d.LastSlot.Equal(sch.GetLastSlot().AsTime()) && d.Queued.Equal(optTime(sch.GetQueued())) {
		return d.Next
	}
	n := s.decided(sch, d, now)
	if s.cfg.Fenced != nil && s.cfg.Fenced() {
		return time.Time{}
	}
	rec, err = s.cfg.Store.PutSchedule(ctx, n, rec.Revision)
	if err != nil {
		if !errors.Is(err, store.ErrConflict) { // a conflict: changed meanwhile; the next scan reads it
			log.Warn("schedules: cannot record a firing; trying again", "err", err)
		}
		return time.Time{}
	}
	if d.Skipped > 0 || d.Missed > 0 {
		log.Info("schedules: runs not started", "skipped", d.Skipped, "missed", d.Missed, "overlap", OverlapName(sch.GetOverlap()))
	}
	if _, err := s.submitRuns(ctx, rec); err != nil {
		log.Warn("schedules: runs not submitted yet; trying again", "err", err)
		return time.Time{}
	}
	return d.Next
}

// rules are a schedule's planning rules, the service's defaults filled in.
func (s *Service) rules(sch *messages.Schedule, spec Spec) Rules {
	catchUp := s.cfg.CatchUp
	if w := sch.GetCatchupWindow(); w != nil {
		catchUp = w.AsDuration()
	}
	return Rules{Spec: spec, Overlap: sch.GetOverlap(), CatchUp: catchUp, MaxCatchUp: s.cfg.MaxCatchUp}
}

// decided is the schedule's record after decision d, its runs in flight.
func (s *Service) decided(sch *messages.Schedule, d Decision, now time.Time) *messages.Schedule {
	n := proto.Clone(sch).(*messages.Schedule)
	n.LastSlot, n.Queued = timestamppb.New(d.LastSlot), nil
	if !d.Queued.IsZero() {
		n.Queued = timestamppb.New(d.Queued)
	}
	n.Skipped += int64(d.Skipped)
	n.Missed += int64(d.Missed)
	for _, slot := range d.Fire {
		n.Firing = append(n.Firing, timestamppb.New(slot))
		n.LastRun = RunID(sch.GetId(), slot)
		n.Runs++
	}
	if len(d.Fire) > 0 {
		n.FiredBy, n.FiredAt = s.cfg.Member, timestamppb.New(now)
	}
	return n
}

// busy reports whether the schedule's last run has not finished (always
// false under OVERLAP_ALLOW, which does not ask).
func (s *Service) busy(ctx context.Context, sch *messages.Schedule) (bool, error) {
	if sch.GetOverlap() == messages.Overlap_OVERLAP_ALLOW || sch.GetLastRun() == "" {
		return false, nil
	}
	rec, err := s.cfg.Tasks.Get(ctx, sch.GetLastRun())
	switch {
	case errors.Is(err, api.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return false, nil // deleted by retention: long over
	case err != nil:
		return false, err
	}
	return !store.Terminal(rec.Task.GetStatus().GetState()), nil
}

// submitRuns submits the runs of rec's firing list and clears it. A run
// already stored (submitted before, by this member or another) counts as
// submitted.
func (s *Service) submitRuns(ctx context.Context, rec store.ScheduleRecord) (store.ScheduleRecord, error) {
	sch := rec.Schedule
	for _, slot := range sch.GetFiring() {
		sub := SubmissionOf(sch.GetId(), sch.GetTemplate(), slot.AsTime())
		if _, _, err := s.cfg.Tasks.Submit(ctx, sub); err != nil && !errors.Is(err, api.ErrAlreadyExists) {
			return rec, err
		}
	}
	n := proto.Clone(sch).(*messages.Schedule)
	n.Firing = nil
	out, err := s.cfg.Store.PutSchedule(ctx, n, rec.Revision)
	if errors.Is(err, store.ErrConflict) {
		// Changed meanwhile (a client's write, another member's firing):
		// the next scan reads it, and submits again what is still listed.
		return rec, nil
	}
	return out, err
}

func optTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
