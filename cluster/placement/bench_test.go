package placement

import (
	"fmt"
	"testing"
)

func benchMembers(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("10.0.%d.%d:7001", i/250, i%250+1), Kinds: []string{"counter", "whoami"}}
	}
	return ms
}

// benchIdentities are prebuilt so the benchmarks time placement, not Sprintf.
var benchIdentities = identities(1024)

func BenchmarkOwner(b *testing.B) {
	for _, n := range []int{3, 50} {
		members := benchMembers(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				Owner(members, "counter", benchIdentities[i%len(benchIdentities)])
			}
		})
	}
}

func BenchmarkTableOwner(b *testing.B) {
	for _, n := range []int{3, 50} {
		table := NewTable(benchMembers(n))
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				table.Owner("counter", benchIdentities[i%len(benchIdentities)])
			}
		})
	}
}

func BenchmarkRanked(b *testing.B) {
	for _, n := range []int{3, 50} {
		members := benchMembers(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				Ranked(members, "counter", benchIdentities[i%len(benchIdentities)])
			}
		})
	}
}

func BenchmarkNewTable(b *testing.B) {
	for _, n := range []int{3, 50} {
		members := benchMembers(n)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NewTable(members)
			}
		})
	}
}
