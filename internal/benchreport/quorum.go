package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// quorumSection measures Granary on the topology docs/operators.md
// deploys (three Consul servers, a client agent per member) beside one
// Consul server, in the same run (issue #22): durable throughput against
// raw KV puts on each, kill -9 failover on each, and the stall of a
// Consul leader election on task commits and grain activations.
func quorumSection(cfg config) (string, error) {
	times := fmt.Sprintf("%dx", cfg.durableTasks)
	type side struct {
		name  string
		f     func(*testing.B)
		rerun string
		rates []float64
	}
	sides := []*side{
		{name: "raw one server", f: benchmarks.ConsulKVWrites, rerun: "-bench DurableThroughput/raw_consul_kv_put$ ./internal/benchmarks"},
		{name: "granary one server", f: func(b *testing.B) { benchmarks.DurableThroughputCallers(b, manyCallers) }, rerun: "-bench DurableThroughput/granary_two_nodes_128_callers$ ./internal/benchmarks"},
		{name: "raw three servers", f: func(b *testing.B) { benchmarks.ConsulKVWritesQuorum(b, benchmarks.Callers) }, rerun: "-bench Quorum/raw_consul_kv_put ./internal/benchmarks"},
		{name: "granary three servers", f: func(b *testing.B) { benchmarks.DurableThroughputQuorum(b, manyCallers) }, rerun: "-bench Quorum/durable_128_callers ./internal/benchmarks"},
	}
	for round := range cfg.quorumRounds {
		for i := range sides { // each first in turn
			s := sides[(i+round)%len(sides)]
			r, err := benchmark(s.f, times, s.rerun)
			if err != nil {
				return "", err
			}
			s.rates = append(s.rates, r.Extra["tasks/s"])
		}
	}
	rawOne, ourOne, rawThree, ourThree := medianOf(sides[0].rates), medianOf(sides[1].rates), medianOf(sides[2].rates), medianOf(sides[3].rates)
	fmt.Printf("durable, three servers       granary %8.0f tasks/s (one server %.0f)   raw KV via agent %8.0f puts/s (one server %.0f)   ratio %.2f× (%.2f×)\n",
		ourThree, ourOne, rawThree, rawOne, ourThree/rawThree, ourOne/rawOne)

	fo, err := benchmark(benchmarks.KillFailoverTopologies, "1x", "-bench Quorum/kill_failover ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	st, err := benchmark(benchmarks.LeaderElectionStall, "1x", "-bench Quorum/leader_election_stall ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	f, s := fo.Extra, st.Extra
	fmt.Printf("failover, three servers      p50 %v worst %v   (one server p50 %v worst %v)\n",
		secs(f["quorum-p50-s"]), secs(f["quorum-worst-s"]), secs(f["single-p50-s"]), secs(f["single-worst-s"]))
	fmt.Printf("leader election stall        commits p50 %v max %v   activations p50 %v max %v   election p50 %v max %v\n",
		secs(s["commit-gap-p50-s"]), secs(s["commit-gap-max-s"]), secs(s["activation-gap-p50-s"]), secs(s["activation-gap-max-s"]), secs(s["election-p50-s"]), secs(s["election-max-s"]))

	var b strings.Builder
	fmt.Fprintf(&b, "## Three Consul servers and an agent per member\n\n")
	fmt.Fprintf(&b, "| benchmark | one Consul server | three servers + an agent per member | three ÷ one |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| durable throughput, submit → committed result (`echo`), %d callers | %.0f tasks/s | %.0f tasks/s | %.2f× |\n", manyCallers, ourOne, ourThree, ourThree/ourOne)
	fmt.Fprintf(&b, "| raw Consul KV puts, %d writers (through the client agent on three servers) | %.0f puts/s | %.0f puts/s | %.2f× |\n", benchmarks.Callers, rawOne, rawThree, rawThree/rawOne)
	fmt.Fprintf(&b, "| granary ÷ raw | %.2f× | %.2f× | |\n", ourOne/rawOne, ourThree/rawThree)
	fmt.Fprintf(&b, "| failover after kill -9 of a member, p50 | %s | %s | %.2f× |\n", fmtSecs(f["single-p50-s"]), fmtSecs(f["quorum-p50-s"]), f["quorum-p50-s"]/f["single-p50-s"])
	fmt.Fprintf(&b, "| the same, worst of %d runs | %s | %s | |\n", benchmarks.FailoverRuns, fmtSecs(f["single-worst-s"]), fmtSecs(f["quorum-worst-s"]))
	fmt.Fprintf(&b, "\nA Consul leader killed with SIGKILL under load, on three servers (%d rounds):\n\n", benchmarks.ElectionRounds)
	fmt.Fprintf(&b, "| figure | p50 | max |\n|---|---|---|\n")
	for _, row := range []struct{ name, key string }{
		{"kill → a new leader, as Consul reports it (`/v1/status/leader`)", "election"},
		{"longest time without a task commit", "commit-gap"},
		{"longest time without a grain activation", "activation-gap"},
		{"baseline: longest time without a raw KV put through a client agent", "put-gap"},
		{"for scale: longest time without a commit in the steady load before the kill", "steady-commit-gap"},
		{"for scale: longest time without an activation in the steady load before the kill", "steady-activation-gap"},
	} {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row.name, fmtSecs(s[row.key+"-p50-s"]), fmtSecs(s[row.key+"-max-s"]))
	}
	fmt.Fprintf(&b, `
Calls that failed during the elections, summed over the rounds: task submits %.0f, activations %.0f, raw puts %.0f.

How measured, in the same run, on loopback: **three servers** is internal/testconsul.StartQuorum, three disk-backed Consul servers on addresses of their own in 127.0.0.0/8 and one client agent per member, each member talking to its own agent, as docs/operators.md deploys it; **one server** is one disk-backed Consul server that the members talk to directly.
- **throughput**: as in "Durable tasks on a cluster" (two `+"`granary node`"+` processes, %d tasks per round after 2000 untimed ones, routing and coalescing Go clients), against single-key puts of 300 bytes from %d writers through the same kind of Consul (through a client agent on three servers). %d rounds, the four benchmarks each first in turn; medians.
- **failover**: as in "Failover after kill -9" (three members, %d fresh `+"`whoami`"+` identities, kill -9 of a member, time until each identity it hosted answers from a survivor; %d runs, a member killed in turn and restarted), Granary only, on each topology in turn.
- **leader election**: two members, each on its own client agent; %d goroutines each keep submitting `+"`echo`"+` tasks (`+"`SubmitAndWait`"+`: a success is a committed result), calling `+"`whoami`"+` on a fresh identity (a success is a new activation), and putting a raw KV key through an agent. After %v of steady load the leader is killed with SIGKILL; the load goes on until commits and activations resume after the new leader, and %v more. A round's figure is the longest time without a success from the kill on (including the gap across it); the killed server is restarted and the next round waits until Consul's autopilot reports a failure tolerance of 1 again. Consul elects a new leader after its followers miss the leader's heartbeats (raft's timeouts, scaled by raft_multiplier; 1 on these agents).
`, s["commit-errors"], s["activation-errors"], s["put-errors"],
		cfg.durableTasks, benchmarks.Callers, cfg.quorumRounds, benchmarks.FailoverIdentities, benchmarks.FailoverRuns,
		benchmarks.StallLoaders, benchmarks.StallSteady, benchmarks.StallTail)
	return b.String(), nil
}
