package membership

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/hashicorp/consul/api"
)

// viewHub holds the latest view and fans it out to subscribers. Sends
// never block the publisher: each subscriber has a buffer of one, and a
// view the subscriber has not taken yet is replaced by the newer one.
type viewHub struct {
	mu     sync.Mutex
	view   View
	subs   map[chan View]struct{}
	closed bool
}

func newViewHub() *viewHub {
	return &viewHub{subs: make(map[chan View]struct{})}
}

// publish installs members as the new view if they differ from the
// current ones. It returns the previous and the new view and whether the
// members changed; an unchanged list keeps the version.
func (h *viewHub) publish(members []Member) (before, after View, changed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	before = h.view
	if h.closed || (h.view.Version > 0 && slices.EqualFunc(h.view.Members, members, memberEqual)) {
		return before, before, false
	}
	h.view = View{Version: h.view.Version + 1, Members: members}
	for ch := range h.subs {
		offer(ch, h.view.clone())
	}
	return before, h.view, true
}

// offer puts v into ch, replacing a view still waiting there. Only the hub
// sends on ch, under its lock, so after the drain the send cannot block.
func offer(ch chan View, v View) {
	select {
	case <-ch:
	default:
	}
	ch <- v
}

// current returns a copy of the latest view.
func (h *viewHub) current() View {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.view.clone()
}

// subscribe returns a channel that receives the current view at once (if
// there is one) and every later one, latest-wins, and a cancel function
// that closes it. After close, the channel comes back closed.
func (h *viewHub) subscribe() (<-chan View, func()) {
	ch := make(chan View, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	if h.view.Version > 0 {
		ch <- h.view.clone()
	}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// close ends every subscription; later publishes are ignored.
func (h *viewHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
}

// nextWaitIndex is the index for the next blocking query after one that
// was sent with prev and answered with got, following Consul's advice: an
// index that went backwards (the agent restarted with new state, or the
// query now reaches another server) resets to 0, so the next query answers
// at once with a fresh index instead of blocking for the full wait; an
// answered index of 0 becomes 1, so queries keep blocking instead of
// spinning.
func nextWaitIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		return 0
	case got == 0:
		return 1
	}
	return got
}

// runViewWatch follows the passing registrations of the service with
// blocking queries; runRosterWatch follows the member keys. Each change of
// either publishes the members that both support (rosterOf).
func (m *Membership) runViewWatch() {
	m.follow("watch members", func(q *api.QueryOptions) (uint64, error) {
		entries, meta, err := m.consul.Health().Service(m.service, "", true, q)
		if err != nil {
			return 0, err
		}
		m.roster.setEntries(entries)
		m.publishMembers()
		return meta.LastIndex, nil
	})
}

// runRosterWatch: see runViewWatch.
func (m *Membership) runRosterWatch() {
	m.follow("watch member keys", func(q *api.QueryOptions) (uint64, error) {
		claims := m.keyClaims()
		pairs, meta, err := m.consul.KV().List(memberKeyPrefix(m.cfg.Cluster), q)
		if err != nil {
			return 0, err
		}
		m.roster.setPairs(pairs)
		m.noteOwnKey(pairs, claims)
		m.publishMembers()
		return meta.LastIndex, nil
	})
}

// follow runs query as a blocking query, again and again, until Leave.
// query answers the index Consul returned. Errors never end it: it backs
// off with jitter and tries again.
func (m *Membership) follow(op string, query func(*api.QueryOptions) (uint64, error)) {
	var index uint64
	failures := 0
	for m.ctx.Err() == nil {
		back := m.consulBack()
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.blockingTimeout())
		got, err := query((&api.QueryOptions{WaitIndex: index, WaitTime: m.cfg.WatchWait}).WithContext(ctx))
		cancel()
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			failures++
			m.logFailure(op, failures, err)
			// After a failure the agent we reach next may be a new
			// incarnation whose index is far below ours; a blocking query
			// with the old index would then sit out the whole WatchWait
			// before showing its state. Starting over from 0 costs one
			// non-blocking read.
			index = 0
			delay := m.cfg.Retry.Delay(failures, rand.Float64())
			if !sleep(m.ctx, delay, back) {
				return
			}
			continue
		}
		if failures > 0 {
			m.log.Info("following consul again", "op", op, "failures", failures)
			failures = 0
		}
		index = nextWaitIndex(index, got)
	}
}

// publishMembers installs the members that the latest registrations and
// member keys support, and logs what changed and what it ignored.
func (m *Membership) publishMembers() {
	m.publishMu.Lock()
	defer m.publishMu.Unlock()
	now := m.cfg.Clock()
	members, ignoredRegs, ok := m.roster.members(m.cfg.Cluster, now)
	if !ok {
		return
	}
	kept := members[:0:0]
	for _, mb := range members {
		if mb.Remoting != m.cfg.Remoting {
			ignoredRegs = append(ignoredRegs, ignored{id: mb.ID, addr: mb.Addr, httpAddr: mb.HTTPAddr, instance: "remoting:" + mb.Remoting,
				reason: fmt.Sprintf("its remoting (%s) does not match this member's (%s): they could not talk", describeRemoting(mb.Remoting), describeRemoting(m.cfg.Remoting))})
			continue
		}
		kept = append(kept, mb)
	}
	for _, ig := range m.roster.toWarn(ignoredRegs, now) {
		m.log.Warn("ignoring a registration of the cluster's service: not a member", "id", ig.id, "http_addr", ig.httpAddr,
			"addr", ig.addr, "instance", ig.instance, "reason", ig.reason)
	}
	before, after, changed := m.views.publish(kept)
	if !changed {
		return
	}
	joined, left, updated := viewDiff(before.Members, after.Members)
	m.log.Info("view changed", "version", after.Version, "members", after.IDs(),
		"joined", joined, "left", left, "updated", updated)
}

// kick wakes the goroutine waiting on ch, if any; kicks do not queue up.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
