package benchmarks

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/supervisor"
)

// Failover knobs, shared by Granary and the raw protoactor-go baseline.
const (
	// FailoverRuns is how many kill -9 runs each side makes (issue 3 asks
	// for at least 5).
	FailoverRuns = 5
	// FailoverIdentities are placed before each kill; about a third land
	// on the member that is killed.
	FailoverIdentities = 300
	// RecoveryCap bounds one run: an identity that has not answered from
	// a survivor by then counts as not recovered.
	RecoveryCap = 30 * time.Second
	// startTimeout bounds a member's start and the wait until members see
	// each other: seconds normally, so 30s means something is broken.
	startTimeout = 30 * time.Second
)

// clusterMember is one member process as the kill -9 harness drives it.
type clusterMember interface {
	// name is what whoami answers when this member hosts the identity.
	name() string
	// whoami calls the identity through this member and returns the name
	// of the member that answered.
	whoami(ctx context.Context, identity string) (string, error)
	// members counts the members this one sees.
	members(ctx context.Context) (int, error)
	kill()
	// start starts the member (again, after kill) and waits until it serves.
	start()
}

// failoverStats summarises kill -9 runs.
type failoverStats struct {
	P50, Worst  time.Duration
	Unrecovered int // runs in which some identity never answered within RecoveryCap
	Identities  int // identities the killed members hosted, summed over runs
	Tries       int // calls made for those identities after the kills
}

// report adds the stats to b's metrics under prefix.
func (s failoverStats) report(b *testing.B, prefix string) {
	b.ReportMetric(s.P50.Seconds(), prefix+"p50-s")
	b.ReportMetric(s.Worst.Seconds(), prefix+"worst-s")
	b.ReportMetric(float64(s.Unrecovered), prefix+"unrecovered-runs")
	b.ReportMetric(float64(s.Identities), prefix+"moved-identities")
	b.ReportMetric(float64(s.Tries)/float64(s.Identities), prefix+"tries-per-identity")
}

// KillFailover measures failover after kill -9 with default settings: a
// real Consul dev agent, three `granary node` processes, 300 whoami
// identities, kill -9 of one member, time until every identity it hosted
// answers from a survivor (called through the survivors' HTTP APIs). Each
// run kills another member and restarts it afterwards. Then the same with
// three raw protoactor-go members (internal/benchmarks/rawnode) on the same
// agent. b.N is ignored: metrics are "granary-p50-s", "raw-worst-s", ...
func KillFailover(b *testing.B) {
	agent := testconsul.Start(b, testconsul.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	ours := startGranaryMembersOn(b, "failover", slices.Repeat([]string{agent.HTTPAddr()}, 3), traceLogLevel...)
	st, err := failoverRuns(ctx, asMembers(ours), FailoverRuns, failoverOpts{probe: &consulProbe{agent.Client(), "failover"}, logf: b.Logf})
	if err != nil {
		b.Fatalf("granary: %v", err)
	}
	st.report(b, "granary-")
	for _, m := range ours { // idle, but no reason to keep them
		m.kill()
	}

	raw := startRawMembers(b, agent.HTTPAddr(), "rawfailover", 3)
	st, err = failoverRuns(ctx, asMembers(raw), FailoverRuns, failoverOpts{logf: b.Logf})
	if err != nil {
		b.Fatalf("raw protoactor: %v", err)
	}
	st.report(b, "raw-")
	b.ReportMetric(float64(rawPanics(b, raw)), "raw-panics")
}

// failoverOpts are what failoverRuns traces and where it prints the
// traces of slow runs.
type failoverOpts struct {
	probe *consulProbe // nil: no Consul events in the traces
	// logf prints the trace of each run slower than traceFactor × the
	// median; nil prints none.
	logf func(format string, args ...any)
}

// failoverRuns makes runs kill -9 runs, killing members in turn.
func failoverRuns(ctx context.Context, members []clusterMember, runs int, opts failoverOpts) (failoverStats, error) {
	var st failoverStats
	var took []time.Duration
	var traces []*runTrace
	for run := range runs {
		victim := members[run%len(members)]
		var survivors []clusterMember
		for _, m := range members {
			if m != victim {
				survivors = append(survivors, m)
			}
		}
		r, err := failoverRun(ctx, run, members, victim, survivors, opts.probe)
		if err != nil {
			return st, fmt.Errorf("run %d: %w", run+1, err)
		}
		if r.took >= RecoveryCap {
			st.Unrecovered++
		}
		st.Identities += r.hosted
		st.Tries += r.tries
		took = append(took, r.took)
		traces = append(traces, r.trace)
		victim.start()
		if err := waitSeen(ctx, members, len(members)); err != nil {
			return st, fmt.Errorf("run %d: after restarting %s: %w", run+1, victim.name(), err)
		}
	}
	slices.Sort(took)
	st.P50, st.Worst = percentile(took, 0.5), took[len(took)-1]
	for _, t := range traces {
		if opts.logf != nil {
			opts.logf("%s", t.summary())
		}
		if opts.logf != nil && t.took > traceFactor*st.P50 {
			opts.logf("slow failover run (p50 %.2fs):\n%s", st.P50.Seconds(), t)
		}
	}
	return st, nil
}

// runResult is one kill -9 run.
type runResult struct {
	took   time.Duration // kill to the last answer from a survivor; RecoveryCap if one never came
	hosted int           // identities the killed member hosted
	tries  int           // calls made for them after the kill
	trace  *runTrace     // why the run ended when it did
}

// failoverRun places fresh identities, kills victim, and calls each
// identity it hosted through a survivor until a survivor answers. One try
// per identity means a call already on its way when the member died failed
// over by itself; more mean the caller had to call again.
func failoverRun(ctx context.Context, run int, members []clusterMember, victim clusterMember, survivors []clusterMember, probe *consulProbe) (runResult, error) {
	hosted, err := placeIdentities(ctx, run, members, victim)
	if err != nil {
		return runResult{}, err
	}
	var ps *probeState
	if probe != nil {
		ps = probe.prepare(victim.name(), hosted)
	}
	killed := time.Now()
	victim.kill()
	stopProbe := func() []traceEvent { return nil }
	if probe != nil {
		stopProbe = probe.watch(ctx, ps, victim.name(), fmt.Sprintf("f%d-", run), killed)
	}
	cctx, cancel := context.WithDeadline(ctx, killed.Add(RecoveryCap))
	defer cancel()
	tr := &runTrace{run: run, victim: victim.name(), killed: killed}
	var wg sync.WaitGroup
	for i, id := range hosted {
		it := &identityTrace{id: id, via: survivors[i%len(survivors)].name(), at: RecoveryCap}
		tr.ids = append(tr.ids, it)
		wg.Add(1)
		go func() {
			defer wg.Done()
			recoverIdentity(cctx, it, survivors[i%len(survivors)], victim.name(), killed)
		}()
	}
	wg.Wait()
	r := runResult{hosted: len(hosted), trace: tr}
	for _, it := range tr.ids {
		r.took, r.tries = max(r.took, it.at), r.tries+it.tries
	}
	r.took = min(r.took, RecoveryCap)
	tr.took = r.took
	tr.events = claimsOnly(stopProbe(), tr.lastIdentities())
	for _, s := range survivors {
		if lw, ok := s.(logWatcher); ok {
			for _, e := range lw.logEvents(killed) {
				tr.events = append(tr.events, traceEvent{e.at, s.name() + " logged: " + e.what})
			}
		}
	}
	return r, nil
}

// placeIdentities places fresh identities through every member and
// returns those that landed on victim.
func placeIdentities(ctx context.Context, run int, members []clusterMember, victim clusterMember) ([]string, error) {
	var hosted []string
	for i := range FailoverIdentities {
		id := fmt.Sprintf("f%d-%d", run, i)
		who, err := members[i%len(members)].whoami(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("placing %s: %w", id, err)
		}
		if who == victim.name() {
			hosted = append(hosted, id)
		}
	}
	if len(hosted) == 0 {
		return nil, fmt.Errorf("no identity landed on %s", victim.name())
	}
	return hosted, nil
}

// recoverIdentity calls it.id through via until a member other than
// victim answers, noting every try in it.
func recoverIdentity(ctx context.Context, it *identityTrace, via clusterMember, victim string, killed time.Time) {
	retryNotes.Store(grainPath(it.id), func(err error) { it.note(time.Since(killed), err) })
	defer retryNotes.Delete(grainPath(it.id))
	for ctx.Err() == nil {
		// An error means "not yet": the member was not found dead yet,
		// or the call timed out waiting for it.
		who, err := via.whoami(ctx, it.id)
		if err == nil && who == victim {
			err = fmt.Errorf("answered by the killed member %s", victim)
		}
		it.try(time.Since(killed), err)
		if err == nil {
			it.at, it.answeredBy = time.Since(killed), who
			return
		}
		supervisor.Sleep(ctx, 10*time.Millisecond)
	}
}

// waitSeen waits until every member sees want members.
func waitSeen(ctx context.Context, members []clusterMember, want int) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		ok := true
		for _, m := range members {
			if n, err := m.members(ctx); err != nil || n != want {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("members do not see %d members: %w", want, ctx.Err())
		}
		supervisor.Sleep(ctx, 50*time.Millisecond)
	}
}
