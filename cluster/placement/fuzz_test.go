package placement

import (
	"slices"
	"strings"
	"testing"
)

// FuzzOwner builds a member list from the input and checks that every way
// of asking gives the same, valid answer. ids is split on commas into at
// most 32 member IDs (repeats allowed); bit 2i of mask makes member i host
// kind and bit 2i+1 makes it host "other".
func FuzzOwner(f *testing.F) {
	f.Add("node-1,node-2,node-3", uint64(0b010101), "counter", "alice")
	f.Add("127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003", uint64(0b100101), "counter", "user-42")
	f.Add("a,a,b", uint64(0b111111), "whoami", "")
	f.Add("", uint64(0), "", "")
	f.Add("x,y", uint64(0b1010), "counter", "nobody hosts it")
	f.Fuzz(func(t *testing.T, ids string, mask uint64, kind, identity string) {
		var members []Member
		hosting := map[string]bool{}
		for i, id := range strings.Split(ids, ",") {
			if i == 32 {
				break
			}
			m := Member{ID: id}
			if mask&(1<<(2*i)) != 0 {
				m.Kinds = append(m.Kinds, kind)
				hosting[id] = true
			}
			if mask&(1<<(2*i+1)) != 0 {
				m.Kinds = append(m.Kinds, "other")
				if kind == "other" {
					hosting[id] = true
				}
			}
			members = append(members, m)
		}

		owner, ok := Owner(members, kind, identity)
		if ok != (len(hosting) > 0) {
			t.Fatalf("Owner ok = %v with %d hosts", ok, len(hosting))
		}
		if ok && !hosting[owner] {
			t.Fatalf("Owner = %q, which does not host %q", owner, kind)
		}
		if !ok && owner != "" {
			t.Fatalf("Owner = %q with ok=false", owner)
		}

		table := NewTable(members)
		if got, gotOK := table.Owner(kind, identity); got != owner || gotOK != ok {
			t.Fatalf("Table.Owner = %q, %v; Owner = %q, %v", got, gotOK, owner, ok)
		}

		ranked := Ranked(members, kind, identity)
		if len(ranked) != len(hosting) {
			t.Fatalf("Ranked = %v, want each of the %d hosts once", ranked, len(hosting))
		}
		for _, id := range ranked {
			if !hosting[id] {
				t.Fatalf("Ranked lists %q, which does not host %q", id, kind)
			}
		}
		if ok && ranked[0] != owner {
			t.Fatalf("Ranked()[0] = %q, Owner = %q", ranked[0], owner)
		}
		if got := table.Ranked(kind, identity); !slices.Equal(got, ranked) {
			t.Fatalf("Table.Ranked = %v, Ranked = %v", got, ranked)
		}

		reversed := slices.Clone(members)
		slices.Reverse(reversed)
		if got, _ := Owner(reversed, kind, identity); got != owner {
			t.Fatalf("Owner depends on member order: %q reversed, %q forward", got, owner)
		}
	})
}
