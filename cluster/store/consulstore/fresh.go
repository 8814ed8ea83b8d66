package consulstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Reads never go back in time. Consul's default reads are answered by
// the server that believes it leads, from its state store, without
// checking with a quorum: a server that has just restarted, or a new
// leader, may answer before it has applied the whole log, with records
// older than ones this member has already read or written (seen: a task
// read completed, then running at an older revision, after a Consul
// restart). Three rules keep a member's answers monotonic:
//
//  1. A record older than the revision this process last read or wrote
//     of that task (or missing, while this process knows it) is never
//     returned: the read is stale (errStale) and is made again in
//     consistent mode, which Consul serves only once the leader has
//     verified its leadership with a quorum and applied its log (until
//     then it answers 500, unavailable, which clients retry). A
//     consistent answer is Consul's truth and is taken as it is.
//  2. For consistentAfterFailure after any transient failure (Consul
//     unreachable, no leader, leadership lost), every read is consistent,
//     which covers tasks this process knows nothing about yet.
//  3. What this process knows of a task is never replaced by an older
//     revision (remember).
//
// The bound: rule 1 covers every task this process has read or written
// and still remembers (unfinished ones, and the last finishedCap to
// finish); a task it forgot is covered by rule 2 only if this process saw
// the outage. Consul's own consistent mode would cover every read, at the
// price of a quorum round trip each.

// consistentAfterFailure is how long reads stay consistent after a
// transient failure: a restarted Consul server elects itself and applies
// its log within seconds; 30s covers that with margin, and consistent
// reads cost only a quorum round trip while it lasts.
const consistentAfterFailure = 30 * time.Second

// errStale: a read answered a task at an older revision than one this
// process has read or written; the server that answered is behind.
var errStale = errors.New("consulstore: Consul answered an older revision than this member has seen (server behind its log)")

// suspect makes reads consistent for consistentAfterFailure.
func (s *Store) suspect() {
	s.consistentUntil.Store(time.Now().Add(consistentAfterFailure).UnixNano())
}

// readOptions are the options of a read: consistent after a recent
// failure, or when asked (a stale read being made again).
func (s *Store) readOptions(ctx context.Context, consistent bool) *api.QueryOptions {
	q := &api.QueryOptions{RequireConsistent: consistent || time.Now().UnixNano() < s.consistentUntil.Load()}
	return q.WithContext(ctx)
}

// fresh runs read with readOptions; a stale answer (errStale) makes it
// read again, consistently (and the reads after it for a while).
func (s *Store) fresh(ctx context.Context, read func(q *api.QueryOptions) error) error {
	err := read(s.readOptions(ctx, false))
	if !errors.Is(err, errStale) {
		return err
	}
	s.suspect()
	return read(s.readOptions(ctx, true))
}

// checkFresh reports errStale if pair holds a task older than the
// revision this process last read or wrote of it.
func (s *Store) checkFresh(pair *api.KVPair) error {
	id, err := url.PathUnescape(strings.TrimPrefix(pair.Key, s.prefix+"tasks/"))
	if err != nil {
		return nil
	}
	if k, ok := s.lastKnown(id); ok && k.rev > pair.ModifyIndex {
		return fmt.Errorf("%w: task %s at revision %d, seen at %d", errStale, id, pair.ModifyIndex, k.rev)
	}
	return nil
}

// txnTransient reports a transaction answered with a failure that may
// pass: consul/api returns a transaction's non-200, non-409 answer as a
// plain error ("Failed request: " and the body), without its status, so
// the body is all there is to tell Consul's transient server errors
// (500s while it has no leader, loses it, or shuts down raft) from
// requests that can never succeed (400: too large, too many operations;
// 403: not allowed), which stay permanent.
func txnTransient(err error) bool {
	msg := err.Error()
	if !strings.Contains(msg, "Failed request: ") {
		return false
	}
	for _, s := range transientTxnAnswers {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transientTxnAnswers are the texts of Consul's transient transaction
// failures (Consul 1.x: agent/consul and hashicorp/raft errors).
var transientTxnAnswers = []string{
	"No cluster leader",
	"leadership lost",
	"raft apply failed",
	"raft is already shutdown",
	"node is not the leader",
	"Not ready to serve consistent reads",
	"timed out enqueuing operation",
	"rpc error",
	"Raft leader not found",
	"i/o timeout",
	"connection refused",
	"EOF",
	"rate limit",
	"Too Many Requests",
}
