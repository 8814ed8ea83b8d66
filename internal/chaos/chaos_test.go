//go:build linux

package chaos

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

var (
	longFlag     = flag.Bool("chaos.long", false, "run the long campaign (also CHAOS_LONG=1): at least 10 kills, 3 graceful stops, 2 pauses, 2+2 partitions and a Consul restart")
	seedFlag     = flag.Uint64("chaos.seed", 0, "replay this seed (also CHAOS_SEED); 0 picks one from the clock")
	durationFlag = flag.Duration("chaos.duration", 0, "faults go on at least this long (also CHAOS_DURATION); 0: 60s short, 4m long")
	topologyFlag = flag.String("chaos.topology", "", "Consul's topology (also CHAOS_TOPOLOGY): single (one server, the default) or quorum (three servers, an agent per member)")
)

// TestChaos is the fault campaign (see doc.go). The short version runs in
// `go test ./...`; `make chaos` runs the long one.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and three granary processes for a minute of faults")
	}
	long := *longFlag || os.Getenv("CHAOS_LONG") != ""
	cfg := Config{
		Seed:     *seedFlag,
		Duration: 60 * time.Second,
		Required: map[FaultKind]int{Kill: 1, GracefulStop: 1, Pause: 1, RestartConsul: 1},
		Members:  3,
		MaxTasks: 3000,
		Settle:   60 * time.Second,
		Drain:    60 * time.Second,
	}
	if long {
		cfg.Duration = 4 * time.Minute
		cfg.Required = map[FaultKind]int{Kill: 10, GracefulStop: 3, Pause: 2, PartitionConsul: 2, PartitionPeers: 2, RestartConsul: 1}
		cfg.MaxTasks = 10000
		cfg.Drain = 2 * time.Minute
	}
	topo, err := ParseTopology(cmp.Or(*topologyFlag, os.Getenv("CHAOS_TOPOLOGY")))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Topology = topo
	if topo == Quorum {
		cfg.Required[LoseQuorum] = 1 // issue #22: lose the quorum and get it back
	}
	if cfg.Seed == 0 {
		if s, err := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64); err == nil {
			cfg.Seed = s
		}
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if *durationFlag > 0 {
		cfg.Duration = *durationFlag
	} else if d, err := time.ParseDuration(os.Getenv("CHAOS_DURATION")); err == nil {
		cfg.Duration = d
	}
	// The short version's one required partition is of either kind, as the
	// seed picks.
	if !long {
		cfg.Required[PartitionConsul+FaultKind(cfg.Seed%2)] = 1
	}
	cfg.Replay = fmt.Sprintf("go test ./internal/chaos -run 'TestChaos$' -v -timeout 30m -chaos.seed %d -chaos.duration %s", cfg.Seed, cfg.Duration)
	if long {
		cfg.Replay += " -chaos.long"
	}
	if topo != SingleServer {
		cfg.Replay += " -chaos.topology " + string(topo)
	}
	began := time.Now()
	res := Run(t, cfg)
	Report(t, res, 20)
	t.Logf("chaos: the whole campaign took %s", time.Since(began).Round(time.Second))
}
