package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/supervisor"
)

// Knobs of LeaderElectionStall.
const (
	// ElectionRounds is how many times the Consul leader is killed.
	ElectionRounds = 3
	// StallLoaders is how many goroutines keep each load going: task
	// submits, grain activations and, as the baseline, raw KV puts.
	StallLoaders = 8
	// StallSteady is the load before the kill, from which the steady
	// longest gap (what a gap is without an election) is taken.
	StallSteady = 3 * time.Second
	// StallTail is the load kept after both loads have resumed, so a
	// second stall (a write retried late) would show.
	StallTail = 3 * time.Second
	// stallCallTimeout bounds one submit, activation or put: a call
	// stuck past it counts as an error and its loader goes on.
	stallCallTimeout = 15 * time.Second
)

// stallLoad records when each call of one load succeeded.
type stallLoad struct {
	mu   sync.Mutex
	done []time.Time
	errs int
}

func (l *stallLoad) record(ctx context.Context, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		l.done = append(l.done, time.Now())
	case ctx.Err() == nil: // not the end of the round
		l.errs++
	}
}

// longestGap is the longest time without a success over [since, end]:
// between successes, the one across since counted from the last success
// before it (since itself if none), and from the last one to end.
func (l *stallLoad) longestGap(since, end time.Time) time.Duration {
	l.mu.Lock()
	ts := slices.Clone(l.done)
	l.mu.Unlock()
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	prev := since
	for _, t := range ts {
		switch {
		case t.After(end):
		case t.After(since):
			gap, prev = max(gap, t.Sub(prev)), t
		default:
			prev = t
		}
	}
	return max(gap, end.Sub(prev))
}

// resumedAfter reports whether a call succeeded after t.
func (l *stallLoad) resumedAfter(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.done) > 0 && l.done[len(l.done)-1].After(t)
}

// stallRound is one leader kill's figures.
type stallRound struct {
	election                 time.Duration // kill → a new leader, as Consul reports it
	commit, activation, put  time.Duration // longest gaps from the kill on
	steadyCommit, steadyAct  time.Duration // longest gaps in the steady load before it
	commitErrs, activateErrs int
	putErrs                  int
}

// LeaderElectionStall measures how long a Consul leader election stalls
// Granary: two `granary node` processes, each on its own client agent of
// three Consul servers, under a steady load of task submits (SubmitAndWait
// of `echo`: each success is a commit) and grain activations (`whoami` of
// a fresh identity each call), and raw KV puts through a client agent as
// the baseline. The leader is killed with SIGKILL; a round's figures are
// the longest time without a commit, an activation or a put from the kill
// on, and the time until Consul reports a new leader. The killed server is
// restarted and the quorum can lose a server again before the next round.
// b.N is ignored: metrics are "commit-gap-p50-s", "election-max-s", ...
func LeaderElectionStall(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t := startQuorumTopology(b, 2)
	members := startGranaryMembersOn(b, "stall", t.addrs())
	var rounds []stallRound
	for round := range ElectionRounds {
		r, leader, err := electionRound(ctx, t, members, round)
		if err != nil {
			b.Fatalf("round %d: %v", round+1, err)
		}
		b.Logf("round %d: %+v", round+1, r)
		rounds = append(rounds, r)
		leader.Restart(b)
		if !t.waitTolerant(ctx) {
			b.Fatalf("round %d: the quorum did not tolerate a failure again within a minute of restarting %s", round+1, leader.ServerAddr())
		}
	}
	reportStall(b, rounds)
}

// electionRound runs the loads, kills the leader once they are steady, and
// returns the round's figures and the killed server.
func electionRound(ctx context.Context, t *quorumTopology, members []*granaryMember, round int) (stallRound, *testconsul.Agent, error) {
	lctx, stop := context.WithCancel(ctx)
	var commits, acts, puts stallLoad
	var wg sync.WaitGroup
	kv := t.agents[0].Client().KV()
	val := make([]byte, 300)
	loop := func(l *stallLoad, call func(ctx context.Context, id string) error, prefix string, g int) {
		defer wg.Done()
		for i := 0; lctx.Err() == nil; i++ {
			cctx, cancel := context.WithTimeout(lctx, stallCallTimeout)
			l.record(lctx, call(cctx, fmt.Sprintf("%s%d-%d-%d-%d", prefix, time.Now().Unix(), round, g, i)))
			cancel()
		}
	}
	for g := range StallLoaders {
		m := members[g%len(members)]
		wg.Add(3)
		go loop(&commits, func(ctx context.Context, id string) error {
			st, err := m.c.SubmitAndWait(ctx, api.SubmitRequest{ID: id, Kind: "echo", Payload: json.RawMessage(`{"n":1}`)}, nil)
			if err == nil && st.State != api.StateCompleted {
				err = fmt.Errorf("task %s ended %s", id, st.State)
			}
			return err
		}, "s", g)
		go loop(&acts, func(ctx context.Context, id string) error { _, err := m.whoami(ctx, id); return err }, "w", g)
		go loop(&puts, func(ctx context.Context, id string) error {
			_, err := kv.Put(&consul.KVPair{Key: "bench/stall/" + id, Value: val}, (&consul.WriteOptions{}).WithContext(ctx))
			return err
		}, "k", g)
	}
	defer func() { stop(); wg.Wait() }() // on every return: the loads end
	began := time.Now()
	supervisor.Sleep(ctx, StallSteady)
	leader, err := t.q.Leader(ctx)
	if err != nil {
		return stallRound{}, nil, fmt.Errorf("no leader to kill: %w", err)
	}
	killed := time.Now()
	leader.Kill()
	r := stallRound{
		steadyCommit: commits.longestGap(began.Add(StallSteady/3), killed),
		steadyAct:    acts.longestGap(began.Add(StallSteady/3), killed),
	}
	if r.election, err = newLeaderAfter(ctx, t.q, leader, killed); err != nil {
		return r, leader, err
	}
	deadline := killed.Add(RecoveryCap)
	for !(commits.resumedAfter(killed.Add(r.election)) && acts.resumedAfter(killed.Add(r.election))) && time.Now().Before(deadline) {
		supervisor.Sleep(ctx, 20*time.Millisecond)
	}
	supervisor.Sleep(ctx, StallTail)
	end := time.Now()
	r.commit, r.activation, r.put = commits.longestGap(killed, end), acts.longestGap(killed, end), puts.longestGap(killed, end)
	r.commitErrs, r.activateErrs, r.putErrs = commits.errs, acts.errs, puts.errs
	return r, leader, nil
}

var errNoNewLeader = errors.New("no new Consul leader")

// newLeaderAfter polls until a server other than old leads, as Consul
// reports it, and returns the time since killed.
func newLeaderAfter(ctx context.Context, q *testconsul.Quorum, old *testconsul.Agent, killed time.Time) (time.Duration, error) {
	ctx, cancel := context.WithDeadline(ctx, killed.Add(RecoveryCap))
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		a, err := q.Leader(pctx)
		pcancel()
		if err == nil && a != old {
			return time.Since(killed), nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%w within %v of the kill (last: %v)", errNoNewLeader, RecoveryCap, err)
		}
		supervisor.Sleep(ctx, 20*time.Millisecond)
	}
}

// reportStall reports p50 and max over rounds of each figure.
func reportStall(b *testing.B, rounds []stallRound) {
	figure := func(name string, of func(stallRound) time.Duration) {
		var ds []time.Duration
		for _, r := range rounds {
			ds = append(ds, of(r))
		}
		slices.Sort(ds)
		b.ReportMetric(percentile(ds, 0.5).Seconds(), name+"-p50-s")
		b.ReportMetric(ds[len(ds)-1].Seconds(), name+"-max-s")
	}
	figure("election", func(r stallRound) time.Duration { return r.election })
	figure("commit-gap", func(r stallRound) time.Duration { return r.commit })
	figure("activation-gap", func(r stallRound) time.Duration { return r.activation })
	figure("put-gap", func(r stallRound) time.Duration { return r.put })
	figure("steady-commit-gap", func(r stallRound) time.Duration { return r.steadyCommit })
	figure("steady-activation-gap", func(r stallRound) time.Duration { return r.steadyAct })
	var ce, ae, pe int
	for _, r := range rounds {
		ce, ae, pe = ce+r.commitErrs, ae+r.activateErrs, pe+r.putErrs
	}
	b.ReportMetric(float64(ce), "commit-errors")
	b.ReportMetric(float64(ae), "activation-errors")
	b.ReportMetric(float64(pe), "put-errors")
}
