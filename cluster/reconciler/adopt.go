package reconciler

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/supervisor"
)

// adoptPace is the least time between two readings of the owner index
// while adoptions wait for their claims: every claim changes the index, so
// without it a survivor adopting thousands of tasks would list its owned
// tasks (thousands of keys) once per claim.
const adoptPace = 100 * time.Millisecond

// adoptAll has the task manager adopt recs (in order) with at most
// AdoptInFlight of them sent and not yet claimed. A claim shows in the
// owner index as this member's; an adoption that has not shown there
// after ClaimWait (another survivor won it, the task had finished, a
// store error) stops counting, so a stalled claim delays the rest by
// ClaimWait at most. Adopting every orphan at once, thousands after a
// failover, sent as many claims and process starts in the same second:
// Consul and this member's CPU fell so far behind that the survivors'
// lease renewals took past the fence bound and they fenced themselves,
// again and again. It returns early, with the rest left to the next
// sweep, when ctx ends or the member is fenced. adopted is called after
// each adoption is sent.
func (r *Reconciler) adoptAll(ctx context.Context, recs []store.Record, adopted func()) {
	waiting := make(map[string]time.Time, r.cfg.AdoptInFlight) // sent, not yet claimed
	var index uint64
	failures := 0
	for next := 0; next < len(recs); {
		if ctx.Err() != nil || r.fenced() {
			return
		}
		for ; len(waiting) < r.cfg.AdoptInFlight && next < len(recs); next++ {
			r.cfg.Tasks.Adopt(recs[next])
			waiting[recs[next].Task.GetSpec().GetId()] = time.Now()
			adopted()
		}
		if next == len(recs) {
			return // nothing left to send: the last claims need no waiting for
		}
		supervisor.Sleep(ctx, adoptPace)
		wctx, cancel := context.WithTimeout(ctx, r.cfg.ClaimWait)
		owned, idx, err := r.cfg.Index.WatchOwned(wctx, r.cfg.Member, index)
		cancel()
		switch {
		case err == nil:
			index, failures = idx, 0
			for _, id := range owned {
				delete(waiting, id)
			}
		case ctx.Err() == nil && wctx.Err() == nil:
			// A store error: wait as the loops do after one; the
			// adoptions in flight time out meanwhile if it lasts.
			failures++
			index = 0
			r.log.Debug("adoption: reading the owner index", "err", err)
			supervisor.Sleep(ctx, r.cfg.Retry.Delay(failures, rand.Float64()))
		}
		now := time.Now()
		for id, sent := range waiting {
			if now.Sub(sent) >= r.cfg.ClaimWait {
				delete(waiting, id)
			}
		}
	}
}
