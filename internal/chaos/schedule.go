package chaos

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// FaultKind is one kind of fault the campaign injects.
type FaultKind int

const (
	Kill            FaultKind = iota // kill -9 a member, then start it again
	Pause                            // SIGSTOP a member for longer than its lease, then SIGCONT
	PartitionConsul                  // sever a member from Consul, then restore
	PartitionPeers                   // sever the other members from a member, then restore
	RestartConsul                    // restart the Consul server (its data kept)
	GracefulStop                     // SIGTERM a member, let it drain and exit, then start it again
	LoseQuorum                       // pause two of the three Consul servers (quorum topology only), then continue them
	numFaultKinds
)

func (k FaultKind) String() string {
	return [...]string{"kill", "pause", "partition-consul", "partition-peers", "consul-restart", "graceful-stop", "lose-quorum"}[k]
}

// weights is how often each kind comes up once the required faults are
// done: kills most, as the issue asks for most of them. LoseQuorum only
// when required: it needs the quorum topology, and drawing it never keeps
// the schedules of existing seeds as they were.
var weights = [numFaultKinds]int{Kill: 4, Pause: 2, PartitionConsul: 2, PartitionPeers: 2, RestartConsul: 1, GracefulStop: 2}

// Fault is one planned fault: what, to which member, held how long, and
// how long the cluster rests after it has settled again.
type Fault struct {
	Kind   FaultKind
	Member int           // index into the cluster's members (not RestartConsul)
	Hold   time.Duration // down, paused or severed for this long
	Rest   time.Duration
}

func (f Fault) String() string {
	switch f.Kind {
	case RestartConsul:
		return fmt.Sprintf("%s (rest %v)", f.Kind, f.Rest)
	case LoseQuorum:
		return fmt.Sprintf("%s for %v (rest %v)", f.Kind, f.Hold, f.Rest)
	}
	return fmt.Sprintf("%s n%d for %v (rest %v)", f.Kind, f.Member+1, f.Hold, f.Rest)
}

// Schedule draws faults from a seeded generator: first the required ones
// in a random order, then random ones. Every draw comes from the one
// generator in a fixed order, so a seed replays the same schedule.
type Schedule struct {
	rng      *rand.Rand
	members  int
	required []FaultKind
}

// NewSchedule returns the schedule of seed for a cluster of members, whose
// first faults are required (counts per kind) in an order the seed picks.
func NewSchedule(seed uint64, members int, required map[FaultKind]int) *Schedule {
	s := &Schedule{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), members: members}
	for k := FaultKind(0); k < numFaultKinds; k++ {
		for range required[k] {
			s.required = append(s.required, k)
		}
	}
	s.rng.Shuffle(len(s.required), func(i, j int) { s.required[i], s.required[j] = s.required[j], s.required[i] })
	return s
}

// RequiredLeft is how many required faults are still to come.
func (s *Schedule) RequiredLeft() int { return len(s.required) }

// Next draws the next fault.
func (s *Schedule) Next() Fault {
	var k FaultKind
	if len(s.required) > 0 {
		k, s.required = s.required[0], s.required[1:]
	} else {
		total := 0
		for _, w := range weights {
			total += w
		}
		draw := s.rng.IntN(total)
		for k = 0; draw >= weights[k]; k++ {
			draw -= weights[k]
		}
	}
	f := Fault{Kind: k, Member: s.rng.IntN(s.members), Rest: between(s.rng, time.Second, 3*time.Second)}
	switch k {
	case Kill, GracefulStop:
		f.Hold = between(s.rng, 500*time.Millisecond, 3*time.Second)
	case Pause, PartitionConsul, PartitionPeers:
		// 3 to 6s: longer than the 2s lease, so Consul declares the member
		// critical (or it fences itself) and survivors take its work.
		f.Hold = between(s.rng, 3*time.Second, 6*time.Second)
	case LoseQuorum:
		f.Hold = loseQuorumHold(s.rng)
	}
	return f
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return (lo + time.Duration(r.Int64N(int64(hi-lo)))).Round(10 * time.Millisecond)
}
