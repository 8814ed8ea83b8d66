package supervisor

import (
	"errors"
	"fmt"
	"testing"
)

// TestTreeFindsChildrenAcrossSizes: a tree finds its children by scanning
// up to smallTree of them and by index above; growing past the bound,
// removing and adding again must find every child either way.
func TestTreeFindsChildrenAcrossSizes(t *testing.T) {
	tree := mustTree(t, Spec{Budget: unlimited})
	ids := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("c%d", i))
		}
		return out
	}
	check := func(live []string, gone ...string) {
		t.Helper()
		for _, id := range live {
			if _, ok := tree.child(id); !ok {
				t.Errorf("child %s not found among %d", id, len(tree.children))
			}
			if err := tree.Add(Child{ID: id}); !errors.Is(err, ErrDuplicateChild) {
				t.Errorf("Add(%s) again = %v, want ErrDuplicateChild", id, err)
			}
		}
		for _, id := range gone {
			if _, ok := tree.child(id); ok {
				t.Errorf("removed child %s still found", id)
			}
		}
	}
	all := ids(3 * smallTree)
	for i, id := range all {
		if err := tree.Add(Child{ID: id}); err != nil {
			t.Fatal(err)
		}
		check(all[:i+1])
		if (tree.index != nil) != (i+1 > smallTree) {
			t.Errorf("%d children: indexed %v", i+1, tree.index != nil)
		}
	}
	tree.Remove("c0")
	tree.Remove(all[len(all)-1])
	check(all[1:len(all)-1], "c0", all[len(all)-1])
	if err := tree.Add(Child{ID: "c0"}); err != nil {
		t.Fatal(err)
	}
	if d := tree.Failed("c0", Failure{}, t0, 0); d.Directive != Restart {
		t.Errorf("Failed(c0) = %v, want Restart", d.Directive)
	}
	if tree.Restarts("c0") != 1 || tree.Restarts("c5") != 0 {
		t.Errorf("restarts c0 %d c5 %d", tree.Restarts("c0"), tree.Restarts("c5"))
	}
}
