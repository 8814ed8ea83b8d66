package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
)

// DurableRound is one side's share of a timed round of an A/B comparison
// of durable task throughput.
type DurableRound struct {
	// Rate is tasks per second, submit to committed result.
	Rate float64
	// NodesCPU is the side's two nodes' user + system CPU per task.
	NodesCPU time.Duration
}

// DurableAB compares durable task throughput of two node configurations
// that differ only in args (A's and B's extra `granary node` flags): two
// clusters of two nodes each on one disk-backed Consul server, both under
// load at the same time, callers callers each, for rounds rounds of d.
// Each round reports, for each side, the tasks it committed within the
// round (its rate) and its nodes' CPU per task.
//
// Running both at once is what makes a difference of a percent or two
// measurable on a shared machine: whatever the neighbours do during a
// round, they do to both sides, whose ratio keeps only what differs
// between them. (Rounds of A then B, however short and alternated, differ
// by 10–20% from round to round here, more than the cost at stake.) The
// two sides share Consul and the CPU fairly, so a side whose nodes spend
// more per task commits fewer tasks: the ratio of the rates is the ratio
// of throughputs on this machine.
func DurableAB(b *testing.B, callers, rounds int, d time.Duration, argsA, argsB []string) (a, bb []DurableRound) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	type side struct {
		name    string
		clients [2]*client.Client
		cpu     cpuGroup // its two nodes
	}
	mk := func(name string, args []string) *side {
		n1 := plainNodeIn(b, name, agent.HTTPAddr(), name+"1", callers, args...)
		n2 := plainNodeIn(b, name, agent.HTTPAddr(), name+"2", callers, args...)
		return &side{name: name, clients: [2]*client.Client{clientFor(b, n1.client), clientFor(b, n2.client)}, cpu: cpuGroup{name: name, pids: []int{n1.pid, n2.pid}}}
	}
	sides := [2]*side{mk("ab-a", argsA), mk("ab-b", argsB)}
	ctx := context.Background()
	run := time.Now().UnixNano()
	var seq atomic.Int64
	task := func(s *side, i int64) error {
		st, err := s.clients[i%2].SubmitAndWait(ctx, api.SubmitRequest{ID: fmt.Sprintf("ab-%d-%d", run, i), Kind: "echo", Payload: json.RawMessage(`{"n":1}`)}, nil)
		if err == nil && st.State != api.StateCompleted {
			err = fmt.Errorf("task %s ended %s", st.ID, st.State)
		}
		return err
	}
	// round loads both sides for d and counts, per side, the tasks
	// committed before d was up (the ones in flight then finish
	// uncounted, so the next round starts from idle sides).
	round := func(d time.Duration) ([2]DurableRound, error) {
		var out [2]DurableRound
		var wg sync.WaitGroup
		errs := make(chan error, 2*callers)
		var done [2]atomic.Int64
		var before [2]time.Duration
		for k, s := range sides {
			before[k] = s.cpu.used()
		}
		start := time.Now()
		end := start.Add(d)
		for k, s := range sides {
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(end) {
						if err := task(s, seq.Add(1)); err != nil {
							errs <- fmt.Errorf("%s: %w", s.name, err)
							return
						}
						if time.Now().Before(end) {
							done[k].Add(1)
						}
					}
				}()
			}
		}
		time.Sleep(time.Until(end))
		took := time.Since(start)
		var used [2]time.Duration
		for k, s := range sides {
			used[k] = s.cpu.used() - before[k]
		}
		wg.Wait()
		close(errs)
		for k := range sides {
			n := done[k].Load()
			out[k].Rate = float64(n) / took.Seconds()
			if n > 0 {
				out[k].NodesCPU = used[k] / time.Duration(n)
			}
		}
		return out, <-errs
	}
	if _, err := round(2 * time.Second); err != nil { // warm-up, both sides
		b.Fatalf("warming up: %v", err)
	}
	b.ResetTimer()
	for range rounds {
		r, err := round(d)
		if err != nil {
			b.Fatal(err)
		}
		a, bb = append(a, r[0]), append(bb, r[1])
	}
	b.StopTimer()
	return a, bb
}
