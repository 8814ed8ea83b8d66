package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
)

// DurableRound is one timed round of durable tasks on one side of an A/B
// comparison.
type DurableRound struct {
	// Rate is tasks per second, submit to committed result.
	Rate float64
	// NodesCPU is the side's two nodes' user + system CPU per task.
	NodesCPU time.Duration
}

// DurableAB compares durable task throughput of two node configurations
// that differ only in args (A's and B's extra `granary node` flags), on
// one disk-backed Consul server: two clusters of two nodes each, started
// once, measured in alternating rounds (A B, B A, A B, ...) of b.N tasks
// from callers callers. Both clusters live through every round, the idle
// one renewing its lease like any member, and both write into the same
// Consul, whose store grows as rounds go by; alternating the order spreads
// that drift evenly, and a round's pair, run back to back, shares the
// machine's state. Fresh Consul servers and nodes for every round (as the
// durable section does) add their own noise, which here is larger than
// the few percent an option such as metrics may cost.
//
// It returns the rounds of each side, in order.
func DurableAB(b *testing.B, callers, rounds int, argsA, argsB []string) (a, bb []DurableRound) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	type side struct {
		clients [2]*client.Client
		pids    []int
		out     *[]DurableRound
	}
	mk := func(name string, args []string, out *[]DurableRound) *side {
		n1 := plainNodeIn(b, name, agent.HTTPAddr(), name+"1", callers, args...)
		n2 := plainNodeIn(b, name, agent.HTTPAddr(), name+"2", callers, args...)
		return &side{clients: [2]*client.Client{clientFor(b, n1.client), clientFor(b, n2.client)}, pids: []int{n1.pid, n2.pid}, out: out}
	}
	sa, sb := mk("ab-a", argsA, &a), mk("ab-b", argsB, &bb)
	ctx := context.Background()
	run := time.Now().UnixNano()
	seq := 0
	one := func(s *side, n int) (DurableRound, error) {
		base := seq
		seq += n
		cpu := cpuGroup{pids: s.pids}
		cpu.start = cpu.used()
		start := time.Now()
		err := runAll(callers, 0, n, func(i int) error {
			st, err := s.clients[i%2].SubmitAndWait(ctx, api.SubmitRequest{ID: fmt.Sprintf("ab-%d-%d", run, base+i), Kind: "echo", Payload: json.RawMessage(`{"n":1}`)}, nil)
			if err == nil && st.State != api.StateCompleted {
				err = fmt.Errorf("task %s ended %s", st.ID, st.State)
			}
			return err
		})
		took := time.Since(start)
		return DurableRound{Rate: float64(n) / took.Seconds(), NodesCPU: (cpu.used() - cpu.start) / time.Duration(n)}, err
	}
	for _, s := range []*side{sa, sb} {
		if _, err := one(s, durableWarmup); err != nil {
			b.Fatalf("warming up: %v", err)
		}
	}
	b.ResetTimer()
	for r := range rounds {
		order := []*side{sa, sb}
		if r%2 == 1 {
			order = []*side{sb, sa}
		}
		for _, s := range order {
			res, err := one(s, b.N)
			if err != nil {
				b.Fatal(err)
			}
			*s.out = append(*s.out, res)
		}
	}
	b.StopTimer()
	return a, bb
}
