package main

import (
	"fmt"
	"strings"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// placementSection compares how evenly identities spread, a pure
// computation on both sides.
func placementSection() (string, error) {
	ours, raw := benchmarks.GranaryBalance(), benchmarks.RawBalance()
	fmt.Printf("placement max/fair           granary %.2f   raw %.2f\n", ours.MaxFair, raw.MaxFair)
	var b strings.Builder
	fmt.Fprintf(&b, "## Placement balance\n\n")
	fmt.Fprintf(&b, "| | granary (cluster/placement) | raw protoactor-go (disthash rendezvous) | target |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| identities per member | %s | %s | |\n", counts(ours.Counts), counts(raw.Counts))
	fmt.Fprintf(&b, "| largest share ÷ fair share | %.2f | %.2f | ≤ %.2f %s |\n", ours.MaxFair, raw.MaxFair, maxFairShare, verdict(ours.MaxFair <= maxFairShare))
	fmt.Fprintf(&b, "| largest part of a dead member's identities that one survivor takes | %.0f%% | %.0f%% | spread over all survivors (50%% is even) |\n", 100*ours.DeadToOne, 100*raw.DeadToOne)
	fmt.Fprintf(&b, `
How measured: %d identities (user-0 … user-%d) placed on the 3 members %s, whose addresses differ only in their last character. Granary hashes the member id (given those same strings) with cluster/placement.Owner; protoactor-go's disthash lookup hashes each member's address with cluster.Rendezvous (FNV-1a, 32 bits, over the identity then the address), called here on cluster.Member values with those addresses. For the last row each member in turn is removed and its identities are placed again among the two survivors; the row shows the most lopsided case.
`, benchmarks.BalanceIdentities, benchmarks.BalanceIdentities-1, strings.Join(benchmarks.BalanceMembers, ", "))
	return b.String(), nil
}

func counts(cs []int) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, " / ")
}
