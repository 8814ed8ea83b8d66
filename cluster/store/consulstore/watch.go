package consulstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// Watch implements store.Store with Consul blocking queries, woken early
// by this process's own writes of the task and by what other members tell
// it (Observe).
//
// However many clients wait, Consul sees a bounded number of queries:
// waiters on one task share one blocking query (its answer wakes them all
// through local), and at most MaxWatches are in flight for different
// tasks; the others wait for a turn. A member's connections to Consul are
// what its lease is renewed over, so waiters must not take them all (300
// long polls through one member once made Consul refuse it and the member
// fenced itself).
func (s *Store) Watch(ctx context.Context, id string, after uint64) (store.Record, error) {
	key := s.taskKey(id)
	index := after
	for {
		if err := s.check(ctx); err != nil {
			return store.Record{}, err
		}
		localChange := s.local.Wait(id)
		if k, ok := s.lastKnown(id); ok && k.rev > after {
			t := &messages.Task{}
			if err := proto.Unmarshal(k.body, t); err == nil {
				return store.Record{Task: t, Revision: k.rev}, nil
			}
		}
		until, ok := s.expected(id)
		if k, mine := s.lastKnown(id); !ok && mine && !k.wrote.IsZero() && s.cfg.LocalWait > 0 {
			until, ok = k.wrote.Add(s.cfg.LocalWait), time.Now().Before(k.wrote.Add(s.cfg.LocalWait))
		}
		if ok {
			// The change will most likely be known here first (this process
			// owns the task, or its owner will tell): wait for it, and ask
			// Consul only if it does not come in time.
			t := time.NewTimer(time.Until(until))
			select {
			case <-localChange:
			case <-t.C:
				s.unexpect(id)
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		if !s.startWatching(id) {
			// Another waiter's query is in flight for this task: its
			// answer (or its end) wakes this one.
			select {
			case <-localChange:
				continue
			case <-ctx.Done():
				return store.Record{}, ctx.Err()
			}
		}
		rec, next, err := s.blockingGet(ctx, id, key, index, localChange)
		s.stopWatching(id)
		s.local.Notify(id) // co-waiters read what it learned, or take over the watch
		switch {
		case errors.Is(err, errWoken):
			continue
		case err != nil:
			return store.Record{}, err
		case rec.Task != nil:
			return rec, nil
		}
		index = max(next, after) // Consul's index went back (restart): keep waiting from ours
	}
}

// errWoken: a blocking query ended early because this process learned of
// a change of the task (it wrote it, or was told): read that instead.
var errWoken = errors.New("woken by a local change")

// blockingGet runs one blocking query for key past index, once a slot is
// free: a record newer than index, or none (Task nil) and the index to
// wait from next.
func (s *Store) blockingGet(ctx context.Context, id, key string, index uint64, localChange <-chan struct{}) (store.Record, uint64, error) {
	select {
	case s.watchSlots <- struct{}{}:
		defer func() { <-s.watchSlots }()
	case <-localChange:
		return store.Record{}, 0, errWoken
	case <-ctx.Done():
		return store.Record{}, 0, ctx.Err()
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-localChange:
			cancel()
		case <-qctx.Done():
		}
	}()
	q := s.readOptions(qctx, false)
	q.WaitIndex, q.WaitTime = index, s.cfg.WatchWait
	pair, meta, err := s.kv.Get(key, q)
	if qctx.Err() != nil && ctx.Err() == nil {
		return store.Record{}, 0, errWoken
	}
	if err != nil {
		if ctx.Err() != nil {
			return store.Record{}, 0, ctx.Err()
		}
		return store.Record{}, 0, s.wrap(err)
	}
	if pair == nil {
		return store.Record{}, 0, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	if pair.ModifyIndex > index {
		rec, err := s.decode(pair, q.RequireConsistent)
		if errors.Is(err, errStale) {
			s.suspect() // behind what this process knows: ask again, consistently
			return store.Record{}, index, nil
		}
		return rec, 0, err
	}
	return store.Record{}, meta.LastIndex, nil
}

// startWatching claims the blocking query of task id for the caller;
// false if another waiter holds it.
func (s *Store) startWatching(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watching[id] {
		return false
	}
	s.watching[id] = true
	return true
}

func (s *Store) stopWatching(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watching, id)
}
