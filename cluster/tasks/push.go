package tasks

import (
	"context"
	"fmt"

	"github.com/granary-rt/granary/cluster/store"
)

// PushChecker is a Peers that can check a change another member pushed
// (Peers.Push) against the store before waiters see it: any member could
// send one, and only what the store holds is the task's state.
type PushChecker interface {
	// CheckPush returns the task as the store holds it, at rec's revision
	// or a later one, without remembering it anywhere (the caller hands it
	// to the store's Observe); an error if the store does not hold rec's
	// revision yet (a forged push, or a store read that lags behind).
	CheckPush(ctx context.Context, rec store.Record) (store.Record, error)
}

// checkPush shows waiters a pushed change once the store confirms it:
// what they see is the store's record, not the push's. A push the store
// does not confirm is dropped; waiters then ask the store themselves after
// HandoffWait, as when a push is lost. Without a PushChecker, the store is
// read here (consulstore remembers what it reads without waking waiters,
// so they see it at HandoffWait at the latest).
func (m *Manager) checkPush(rec store.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StoreTimeout)
	defer cancel()
	var got store.Record
	var err error
	if pc, ok := m.cfg.Peers.(PushChecker); ok {
		got, err = pc.CheckPush(ctx, rec)
	} else {
		got, err = m.store.Get(ctx, rec.Task.GetSpec().GetId())
		if err == nil && got.Revision < rec.Revision {
			err = fmt.Errorf("the store holds revision %d", got.Revision)
		}
	}
	if err != nil {
		m.log.Debug("a pushed change the store does not hold; ignored", "task", rec.Task.GetSpec().GetId(), "revision", rec.Revision, "err", err)
		return
	}
	m.observe(got)
}

// observe hands a record another member sent to the store, if it takes
// such records (store.Observer).
func (m *Manager) observe(rec store.Record) {
	if m.caps.Observer != nil && rec.Task.GetSpec().GetId() != "" && rec.Revision > 0 {
		m.caps.Observer.Observe(rec)
	}
}

// expectPush tells the store that the owner of task id will push its
// changes here, so waiters need not ask the store for a while.
func (m *Manager) expectPush(id string) {
	if m.caps.Observer != nil && m.cfg.Peers != nil && m.cfg.HandoffWait > 0 {
		m.caps.Observer.Expect(id, m.now().Add(m.cfg.HandoffWait))
	}
}
