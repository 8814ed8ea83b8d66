package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// failoverSection runs the kill -9 failover comparison and the singleton
// takeover, each once (they repeat their runs inside).
func failoverSection() (string, error) {
	fo, err := benchmark(benchmarks.KillFailover, "1x", "-bench KillFailover ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	st, err := benchmark(benchmarks.SingletonTakeover, "1x", "-bench SingletonTakeover ./internal/benchmarks")
	if err != nil {
		return "", err
	}
	f, s := fo.Extra, st.Extra
	ourP50, ourWorst := secs(f["granary-p50-s"]), secs(f["granary-worst-s"])
	fmt.Printf("failover after kill -9       granary p50 %v worst %v   raw p50 %v worst %v\n",
		ourP50, ourWorst, secs(f["raw-p50-s"]), secs(f["raw-worst-s"]))
	fmt.Printf("singleton takeover           granary p50 %v worst %v\n", secs(s["p50-s"]), secs(s["worst-s"]))

	var b strings.Builder
	fmt.Fprintf(&b, "## Failover after kill -9, default settings\n\n")
	fmt.Fprintf(&b, "| scenario | granary p50 | granary worst | raw protoactor-go p50 | raw worst | target |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| every identity of the killed member answers from a survivor | %s | %s | %s | %s | p50 ≤ %v %s, worst ≤ %v %s |\n",
		fmtSecs(f["granary-p50-s"]), fmtSecs(f["granary-worst-s"]), rawFailover(f, "p50"), rawFailover(f, "worst"),
		maxFailoverP50, verdict(ourP50 <= maxFailoverP50), maxFailoverWorst, verdict(ourWorst <= maxFailoverWorst))
	fmt.Fprintf(&b, "| `leader` singleton answers from a new holder | %s | %s | no singleton kind | | below Consul's 15 s lock-delay %s |\n",
		fmtSecs(s["p50-s"]), fmtSecs(s["worst-s"]), verdict(secs(s["worst-s"]) < 15*time.Second))
	fmt.Fprintf(&b, `
How measured, %d runs per figure (p50 is the median run, worst the slowest), on a real Consul dev agent (bin/consul) on loopback:
- **failover**: three members; each run calls `+"`whoami`"+` for %d fresh identities through the members in turn, kills one member with SIGKILL (another one each run), then calls each identity the killed member hosted (%.0f per run on average) through a survivor, again and again, until it answers from a survivor. A run's figure is the time from the kill to the last such answer. Calls per identity until it answered: granary %.2f, raw %.2f (1: the call made right after the kill, routed at first to the dead member, reached a survivor without the caller calling again). The killed member is restarted and seen by all before the next run. **granary**: three `+"`granary node`"+` processes, default settings, calls through the survivors' HTTP API (cluster/client CallRaw). **raw**: three internal/benchmarks/rawnode processes, protoactor-go's cluster with its stock Consul provider (default TTL 3 s, refresh 1 s) and disthash, a `+"`whoami`"+` virtual actor answering with its member address, calls through a survivor's HTTP entry with cluster.Request and default options (5 s time-out); a restarted raw member takes fresh ports. A run that does not recover within %v counts as %v; raw runs not recovered: %.0f, panics in raw members' logs: %.0f.
- **singleton takeover**: three `+"`granary node`"+` processes; each run asks which member holds the stock `+"`leader`"+` singleton, kills it with SIGKILL, and calls `+"`leader`"+` through a survivor (1 s per call) until another member answers; the killed member is then restarted. Granary sets the session lock-delay to 1 s instead of Consul's 15 s (cluster/membership DefaultConfig).
`, benchmarks.FailoverRuns, benchmarks.FailoverIdentities, (f["granary-moved-identities"]+f["raw-moved-identities"])/float64(2*benchmarks.FailoverRuns),
		f["granary-tries-per-identity"], f["raw-tries-per-identity"],
		benchmarks.RecoveryCap, benchmarks.RecoveryCap, f["raw-unrecovered-runs"], f["raw-panics"])
	return b.String(), nil
}

// rawFailover formats a raw figure, saying so when it never recovered.
func rawFailover(f map[string]float64, which string) string {
	v := f["raw-"+which+"-s"]
	if secs(v) >= benchmarks.RecoveryCap {
		return fmt.Sprintf("not recovered within %v", benchmarks.RecoveryCap)
	}
	return fmtSecs(v)
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func fmtSecs(s float64) string { return fmt.Sprintf("%.2f s", s) }
