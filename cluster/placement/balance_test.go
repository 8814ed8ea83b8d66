package placement

import (
	"fmt"
	"testing"
)

// maxFairRatio is the balance target of issue 3, section 7: no member holds
// more than 1.25 times its fair share.
const maxFairRatio = 1.25

const balanceKind = "counter"

// memberIDSchemes are ID families whose members differ only in their last
// character, the case in which protoactor-go's hashing splits 50/50/100.
var memberIDSchemes = []struct {
	name   string
	format string
}{
	{"node", "node-%d"},
	{"address", "127.0.0.1:700%d"},
}

func hostsOf(t *testing.T, format string, n int) []Member {
	t.Helper()
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf(format, i+1), Kinds: []string{balanceKind}}
	}
	return ms
}

func identities(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%d", i)
	}
	return ids
}

// owners maps every identity to its owner among members.
func owners(t *testing.T, members []Member, ids []string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(ids))
	for _, ident := range ids {
		owner, ok := Owner(members, balanceKind, ident)
		if !ok {
			t.Fatalf("Owner(%q) found no host among %d members", ident, len(members))
		}
		out[ident] = owner
	}
	return out
}

// maxRatio returns the largest count divided by the fair share total/n,
// and fails when a member in want got nothing.
func maxRatio(t *testing.T, counts map[string]int, want []Member) float64 {
	t.Helper()
	total := 0
	for _, c := range counts {
		total += c
	}
	fair := float64(total) / float64(len(want))
	worst := 0.0
	for _, m := range want {
		c := counts[m.ID]
		if c == 0 {
			t.Errorf("member %s received none of %d identities (counts %v)", m.ID, total, counts)
		}
		if r := float64(c) / fair; r > worst {
			worst = r
		}
	}
	return worst
}

func TestBalance(t *testing.T) {
	for _, scheme := range memberIDSchemes {
		for _, n := range []int{3, 5, 7} {
			for _, count := range []int{1000, 10000} {
				t.Run(fmt.Sprintf("%s/%dmembers/%dids", scheme.name, n, count), func(t *testing.T) {
					members := hostsOf(t, scheme.format, n)
					counts := map[string]int{}
					for _, owner := range owners(t, members, identities(count)) {
						counts[owner]++
					}
					r := maxRatio(t, counts, members)
					t.Logf("max/fair %.3f counts %v", r, counts)
					if r > maxFairRatio {
						t.Errorf("max/fair = %.3f > %.2f: counts %v", r, maxFairRatio, counts)
					}
				})
			}
		}
	}
}

func TestDeadMemberSpreadsOverAllSurvivors(t *testing.T) {
	tests := []struct {
		n, ids int
		// bounded asks for every survivor's share of the dead member's
		// identities to stay within maxFairRatio of fair; otherwise every
		// survivor must merely receive some.
		bounded bool
	}{
		{n: 3, ids: 1000, bounded: true},
		{n: 3, ids: 10000, bounded: true},
		{n: 5, ids: 1000},
		{n: 5, ids: 10000, bounded: true},
		{n: 7, ids: 10000, bounded: true},
	}
	for _, scheme := range memberIDSchemes {
		for _, tt := range tests {
			members := hostsOf(t, scheme.format, tt.n)
			ids := identities(tt.ids)
			before := owners(t, members, ids)
			for dead := range members {
				name := fmt.Sprintf("%s/%dto%d/%dids/dead=%s", scheme.name, tt.n, tt.n-1, tt.ids, members[dead].ID)
				t.Run(name, func(t *testing.T) {
					survivors := append(append([]Member{}, members[:dead]...), members[dead+1:]...)
					after := owners(t, survivors, ids)
					inherited := map[string]int{}
					for _, ident := range ids {
						was, is := before[ident], after[ident]
						if was == members[dead].ID {
							inherited[is]++
						} else if was != is {
							t.Fatalf("identity %s moved from surviving %s to %s", ident, was, is)
						}
					}
					r := maxRatio(t, inherited, survivors)
					t.Logf("max/fair %.3f inherited %v", r, inherited)
					if tt.bounded && r > maxFairRatio {
						t.Errorf("max/fair of inherited identities = %.3f > %.2f: %v", r, maxFairRatio, inherited)
					}
				})
			}
		}
	}
}

func TestJoinTakesOnlyItsShare(t *testing.T) {
	for _, scheme := range memberIDSchemes {
		for _, n := range []int{2, 3, 5} {
			for _, count := range []int{1000, 10000} {
				t.Run(fmt.Sprintf("%s/%dto%d/%dids", scheme.name, n, n+1, count), func(t *testing.T) {
					grown := hostsOf(t, scheme.format, n+1)
					joiner := grown[n].ID
					ids := identities(count)
					before := owners(t, grown[:n], ids)
					after := owners(t, grown, ids)
					taken := 0
					for _, ident := range ids {
						was, is := before[ident], after[ident]
						switch {
						case was == is:
						case is == joiner:
							taken++
						default:
							t.Fatalf("identity %s moved between old members %s -> %s", ident, was, is)
						}
					}
					r := float64(taken) / (float64(count) / float64(n+1))
					t.Logf("joiner took %d of %d (%.3f of fair)", taken, count, r)
					if taken == 0 || r > maxFairRatio {
						t.Errorf("joiner took %d of %d identities, %.3f of its fair share", taken, count, r)
					}
				})
			}
		}
	}
}
