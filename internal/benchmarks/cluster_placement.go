package benchmarks

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/granary-rt/granary/cluster/placement"
)

// BalanceMembers are the members of the placement balance comparison:
// addresses that differ only in their last character, as three nodes
// started side by side usually get. protoactor-go hashes a member's
// address; Granary hashes the member id, given the same strings here.
var BalanceMembers = []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}

// BalanceIdentities is how many identities the comparison places.
const BalanceIdentities = 1000

// Balance is how one placement function spreads identities.
type Balance struct {
	// Counts holds the identities per member, in BalanceMembers order.
	Counts []int
	// MaxFair is the largest count divided by the fair share.
	MaxFair float64
	// DeadToOne is the largest fraction of a dead member's identities that
	// a single survivor receives, over each member dying in turn: 1/2 is
	// an even spread over two survivors, 1 means one survivor takes all.
	DeadToOne float64
}

// ownerFunc places identity among members.
type ownerFunc func(members []string, identity string) string

// GranaryBalance measures cluster/placement's rendezvous hashing.
func GranaryBalance() Balance {
	return measureBalance(func(members []string, identity string) string {
		pm := make([]placement.Member, len(members))
		for i, m := range members {
			pm[i] = placement.Member{ID: m, Kinds: []string{"whoami"}}
		}
		owner, _ := placement.Owner(pm, "whoami", identity)
		return owner
	})
}

// RawBalance measures protoactor-go's rendezvous hashing, the one its
// disthash identity lookup uses (cluster.Rendezvous, FNV-1a over the
// identity followed by the member address).
func RawBalance() Balance {
	return measureBalance(func(members []string, identity string) string {
		cms := make(cluster.Members, len(members))
		for i, m := range members {
			host, port, _ := strings.Cut(m, ":")
			p, _ := strconv.Atoi(port)
			cms[i] = &cluster.Member{Id: fmt.Sprintf("m%d", i), Host: host, Port: int32(p), Kinds: []string{"whoami"}}
		}
		rdv := cluster.NewRendezvous()
		rdv.UpdateMembers(cms)
		return rdv.GetByClusterIdentity(cluster.NewClusterIdentity(identity, "whoami"))
	})
}

func measureBalance(owner ownerFunc) Balance {
	ids := make([]string, BalanceIdentities)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%d", i)
	}
	b := Balance{Counts: make([]int, len(BalanceMembers))}
	placed := map[string]string{}
	for _, id := range ids {
		o := owner(BalanceMembers, id)
		placed[id] = o
		for i, m := range BalanceMembers {
			if m == o {
				b.Counts[i]++
			}
		}
	}
	fair := float64(len(ids)) / float64(len(BalanceMembers))
	for _, c := range b.Counts {
		b.MaxFair = max(b.MaxFair, float64(c)/fair)
	}
	for dead, gone := range BalanceMembers {
		survivors := append(append([]string(nil), BalanceMembers[:dead]...), BalanceMembers[dead+1:]...)
		moved := map[string]int{}
		total := 0
		for _, id := range ids {
			if placed[id] == gone {
				moved[owner(survivors, id)]++
				total++
			}
		}
		for _, n := range moved {
			b.DeadToOne = max(b.DeadToOne, float64(n)/float64(total))
		}
	}
	return b
}
