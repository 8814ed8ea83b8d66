package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/supervisor"
)

// SingletonTakeover measures the takeover of the stock `leader` singleton
// after kill -9 of its holder, with default settings: a Consul dev agent and
// three `granary node` processes; each run finds the holder, kills it, and
// times until a call through a survivor answers from another member, then
// restarts the killed node. Raw protoactor-go has no singleton kind to
// compare with. b.N is ignored; metrics are "p50-s" and "worst-s".
func SingletonTakeover(b *testing.B) {
	agent := testconsul.Start(b, testconsul.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	members := startGranaryMembers(b, agent.HTTPAddr(), "singleton", 3)
	var took []time.Duration
	for run := range FailoverRuns {
		d, err := takeoverRun(ctx, members)
		if err != nil {
			b.Fatalf("run %d: %v", run+1, err)
		}
		took = append(took, d)
	}
	slices.Sort(took)
	b.ReportMetric(percentile(took, 0.5).Seconds(), "p50-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "worst-s")
}

// takeoverRun kills the leader's holder and returns the time until another
// member answers as leader; it restarts the killed member before returning.
func takeoverRun(ctx context.Context, members []*granaryMember) (time.Duration, error) {
	holder, err := leaderOf(ctx, members[0])
	if err != nil {
		return 0, err
	}
	var victim, via *granaryMember
	for _, m := range members {
		switch {
		case m.name() == holder:
			victim = m
		case via == nil:
			via = m
		}
	}
	if victim == nil {
		return 0, fmt.Errorf("leader held by unknown member %q", holder)
	}
	killed := time.Now()
	victim.kill()
	for {
		// Short calls: one stuck on the dead holder must not hide the
		// moment the new holder answers.
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		now, err := leaderOf(cctx, via)
		cancel()
		if err == nil && now != holder {
			break
		}
		if time.Since(killed) > RecoveryCap {
			return 0, fmt.Errorf("no member took the leader role within %s of killing %s", RecoveryCap, holder)
		}
		supervisor.Sleep(ctx, 10*time.Millisecond)
	}
	took := time.Since(killed)
	victim.start()
	return took, waitSeen(ctx, asMembers(members), len(members))
}

// leaderOf asks m which member holds the leader role.
func leaderOf(ctx context.Context, m *granaryMember) (string, error) {
	r, err := m.c.CallRaw(ctx, "leader", "x", nil)
	if err != nil {
		return "", err
	}
	var l struct {
		Member string `json:"member"`
	}
	err = json.Unmarshal(r.Result, &l)
	return l.Member, err
}
