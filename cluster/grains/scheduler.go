package grains

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/internal/logevery"
	"github.com/granary-rt/granary/messages"
)

// scheduler fires the due reminders of the shards of the reminder index
// this member owns. One goroutine (run) owns the queue; a watch goroutine
// per owned shard feeds it the shard's index entries, one blocking query
// at a time; firings are calls through the Host, so a grain is activated
// wherever it is placed.
type scheduler struct {
	h      *Host
	rs     ReminderStore
	log    *slog.Logger
	events chan any
	slots  chan struct{} // bounds firings in flight
	// watchWarn limits the warnings of failing index reads (every shard's
	// watch fails at once while Consul is away).
	watchWarn logevery.Limiter

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Events of the scheduler's loop.
type (
	ownShards   struct{ shards map[int]bool }
	shardLoaded struct {
		shard   int
		entries []IndexEntry
	}
	indexHint struct {
		kind, identity string
		changes        []IndexChange
	}
	fireDone struct {
		f    firing
		next time.Time
		err  error
	}
)

// maxFiring bounds the firings in flight: each is a call and a durable
// write; 256 keeps a burst of due reminders from queueing behind each
// other while bounding the goroutines and Consul transactions at once.
const maxFiring = 256

// fencedPoll is how often a fenced member's scheduler looks whether its
// lease is back: a fence lasts seconds, and its due reminders should fire
// within a tick of its end, as they would have without it.
const fencedPoll = 50 * time.Millisecond

// errFenced: the member was fenced when a firing was about to leave.
var errFenced = errors.New("member fenced; the reminder fires once it holds a lease again")

func newScheduler(h *Host, rs ReminderStore) *scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &scheduler{h: h, rs: rs, log: h.log.With("component", "reminders"), events: make(chan any, 1024),
		slots: make(chan struct{}, maxFiring), ctx: ctx, cancel: cancel, watchWarn: logevery.Limiter{Period: reminderWarnEvery}}
}

func (s *scheduler) start() {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.run() }()
}

// stop ends every goroutine of the scheduler and waits for them; it is
// safe to call twice.
func (s *scheduler) stop() {
	s.stopOnce.Do(s.cancel)
	s.wg.Wait()
}

// send gives the loop an event, unless the scheduler stopped.
func (s *scheduler) send(ev any) {
	select {
	case s.events <- ev:
	case <-s.ctx.Done():
	}
}

func (s *scheduler) run() {
	q := newReminderQueue()
	owned := map[int]context.CancelFunc{}
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		select {
		case <-s.ctx.Done():
			for _, cancel := range owned {
				cancel()
			}
			return
		case ev := <-s.events:
			switch ev := ev.(type) {
			case ownShards:
				s.own(q, owned, ev.shards)
			case shardLoaded:
				if owned[ev.shard] != nil {
					q.load(ev.shard, ev.entries)
				}
			case indexHint:
				if owned[ReminderShard(ev.kind, ev.identity)] != nil {
					q.change(ev.kind, ev.identity, ev.changes)
				}
			case fireDone:
				q.fired(ev.f, ev.next, ev.err, time.Now())
			}
		case <-wake.C:
		}
		if s.h.leaseLost() {
			// A member whose lease lapsed (paused, cut off from Consul) may
			// have lost its shards to the survivors already: it fires
			// nothing until it holds a lease again, and looks again soon.
			wake.Reset(fencedPoll)
			continue
		}
		fire, next := q.due(time.Now())
		for _, f := range fire {
			s.fire(f)
		}
		if next.IsZero() {
			wake.Reset(time.Hour)
		} else {
			wake.Reset(time.Until(next))
		}
	}
}

// own starts watching the shards newly owned and forgets the others.
func (s *scheduler) own(q *reminderQueue, owned map[int]context.CancelFunc, shards map[int]bool) {
	for shard, cancel := range owned {
		if !shards[shard] {
			cancel()
			delete(owned, shard)
		}
	}
	q.drop(func(shard int) bool { return shards[shard] })
	for shard := range shards {
		if owned[shard] == nil {
			ctx, cancel := context.WithCancel(s.ctx)
			owned[shard] = cancel
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.watch(ctx, shard) }()
		}
	}
}

// watch feeds the loop shard's index entries each time they change.
func (s *scheduler) watch(ctx context.Context, shard int) {
	var index uint64
	for tries := 0; ; {
		entries, next, err := s.rs.WatchReminders(ctx, shard, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			tries++
			if ok, held := s.watchWarn.Allow(time.Now()); ok {
				s.log.Warn("reading the reminder index failed; retrying", "shard", shard, "err", err, "similar_lines_left_out", held)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(fireBackoff(tries)):
			}
			continue
		}
		tries = 0
		if next == index {
			continue // the wait ended with no change
		}
		index = next
		select {
		case s.events <- shardLoaded{shard: shard, entries: entries}:
		case <-ctx.Done():
			return
		}
	}
}

// fire calls the grain with the firing, in its own goroutine, and tells
// the loop the outcome.
func (s *scheduler) fire(f firing) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		var next time.Time
		err := errFenced
		if !s.h.leaseLost() { // a pause may have fallen since the loop looked
			next, err = s.h.fireReminder(s.ctx, f.IndexEntry)
		}
		<-s.slots
		if err != nil && s.ctx.Err() == nil {
			lvl := slog.LevelDebug
			if errors.Is(err, ErrInvalidArgument) {
				lvl = slog.LevelWarn
			}
			s.log.Log(s.ctx, lvl, "firing a reminder failed; retrying", "grain", f.Kind, "identity", f.Identity, "reminder", f.Name, "err", err)
		}
		s.send(fireDone{f: f, next: next, err: err})
	}()
}

// fireReminder asks the grain to fire its reminder e, due at e.Due, and
// returns when the reminder is due next as the grain stored it (zero: it
// is gone).
func (h *Host) fireReminder(ctx context.Context, e IndexEntry) (time.Time, error) {
	if _, err := h.cfg.Registry.Grain(e.Kind); err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	resp, err := h.deliver(ctx, &messages.GrainRequest{Kind: e.Kind, Identity: e.Identity, DeadlineUnixNano: deadline.UnixNano(),
		Reminder: &messages.ReminderFire{Name: e.Name, DueUnixNano: e.Due.UnixNano()}}, nil)
	if err != nil {
		return time.Time{}, err
	}
	if resp.GetNextDueUnixNano() == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, resp.GetNextDueUnixNano()), nil
}

// reminded tells this member's scheduler of a grain's write to its
// reminders; if the member owns the shard it need not wait for its watch.
func (h *Host) reminded(kind, identity string, changes []IndexChange) {
	if h.sched != nil && len(changes) > 0 {
		h.sched.send(indexHint{kind: kind, identity: identity, changes: changes})
	}
}

// reminderWarnEvery is the period of the scheduler's warnings about its
// index reads failing: one line every 10s says Consul is still away (the
// 32 shards' watches fail together, each on its own backoff).
const reminderWarnEvery = 10 * time.Second
