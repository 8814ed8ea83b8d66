package consulstore

import (
	"bytes"
	"context"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
)

// A write whose transaction Consul did not answer (the connection failed,
// the call timed out, the leader changed while it committed) may have
// landed: its outcome is unknown, not failed. Reporting it as failed
// makes the caller decide on a falsehood: a task actor would write its
// result again at the revision it already moved past, see a conflict, and
// take it for another member's change. So before deciding, the store
// reads the task back, consistently: if Consul holds exactly the record
// this write sent, the write landed and is reported done, with the
// revision Consul gave it. The same read decides a check-and-set that
// Consul refused: if the record it finds is the one being written, an
// earlier try of this same write landed (its answer lost), and the retry
// is answered with it rather than refused. Either way nothing is written
// twice, because every write is a check-and-set on the revision it read.

// landed reads task id consistently and reports whether Consul holds body
// for it, with the record at Consul's revision. The read runs within the
// call's own bound: a write that timed out has none left, and its outcome
// stays unknown (the caller reports the write's error, unavailable, and
// a retry of the same write is decided by this read then), because a
// read past the bound would make the caller wait longer than it asked.
func (s *Store) landed(ctx context.Context, id string, t *messages.Task, body []byte) (store.Record, bool) {
	if ctx.Err() != nil {
		return store.Record{}, false
	}
	pair, _, err := s.kv.Get(s.taskKey(id), (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil || pair == nil || !bytes.Equal(pair.Value, body) {
		return store.Record{}, false
	}
	s.remember(id, pair.ModifyIndex, t, body, true)
	s.local.Notify(id)
	return store.Record{Task: t, Revision: pair.ModifyIndex}, true
}
