package grains_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestActivationsByKind: a member counts its activations by kind, naming
// up to the sample asked for, sorted, and the counts add up to
// Activations across members.
func TestActivationsByKind(t *testing.T) {
	c := newCluster(t)
	nodes := []*node{c.node("n1", nil), c.node("n2", nil)}
	setViews(nodes, nodes...)
	for i := range 12 {
		call(t, nodes[0], "counter", fmt.Sprintf("c%02d", i), `{"op":"add","n":1}`)
	}
	for i := range 5 {
		call(t, nodes[1], "whoami", fmt.Sprintf("w%d", i), `{}`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	total := map[string]int{}
	for _, n := range nodes {
		counts, err := n.host.ActivationsByKind(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for i, kc := range counts {
			if i > 0 && counts[i-1].Kind >= kc.Kind {
				t.Errorf("%s: kinds not sorted: %+v", n.id, counts)
			}
			if len(kc.Identities) != min(3, kc.Count) {
				t.Errorf("%s: %s names %d identities of %d, want min(3, count)", n.id, kc.Kind, len(kc.Identities), kc.Count)
			}
			for j := 1; j < len(kc.Identities); j++ {
				if kc.Identities[j-1] >= kc.Identities[j] {
					t.Errorf("%s: %s identities not sorted: %v", n.id, kc.Kind, kc.Identities)
				}
			}
			total[kc.Kind] += kc.Count
			sum += kc.Count
		}
		if sum != n.host.Activations() {
			t.Errorf("%s: by kind %+v adds up to %d, Activations says %d", n.id, counts, sum, n.host.Activations())
		}
	}
	if total["counter"] != 12 || total["whoami"] != 5 {
		t.Fatalf("activations by kind across members: %v; want 12 counter and 5 whoami", total)
	}
}
