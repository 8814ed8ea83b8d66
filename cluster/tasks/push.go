package tasks

import (
	"context"
	"fmt"

	"github.com/granary-rt/granary/cluster/store"
)

// checkPush shows waiters a pushed change once the store confirms it:
// what they see is the store's record, not the push's. A push the store
// does not confirm is dropped; waiters then ask the store themselves after
// HandoffWait, as when a push is lost. A store.Confirmer reads the store
// itself; without one, the store is read here as any read is.
func (m *Manager) checkPush(rec store.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StoreTimeout)
	defer cancel()
	var got store.Record
	var err error
	if m.caps.Confirmer != nil {
		got, err = m.caps.Confirmer.Confirm(ctx, rec.Task.GetSpec().GetId(), rec.Revision)
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
