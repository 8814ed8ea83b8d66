package grains

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The table hands out the least recently used activations first, only
// those idle long enough, never a pinned one (a singleton), and counts
// the pinned apart.
func TestTableEvictsLeastRecentlyUsedIdle(t *testing.T) {
	tb := newTable()
	t0 := time.Unix(1000, 0)
	pid := func(id string) *actor.PID { return actor.NewPID("local", id) }
	tb.add("k/leader", pid("l"), t0, true)
	for i, key := range []string{"k/a", "k/b", "k/c", "k/d"} {
		tb.add(key, pid(key), t0.Add(time.Duration(i)*time.Second), false)
	}
	tb.touch("k/a", t0.Add(10*time.Second)) // a is now the most recently used
	if tb.len() != 5 || tb.unpinned() != 4 {
		t.Fatalf("len %d, unpinned %d; want 5 and 4", tb.len(), tb.unpinned())
	}
	got := tb.evictable(8, t0.Add(2500*time.Millisecond)) // idle since before t0+2.5s: b (t0+1s), c (t0+2s)
	if len(got) != 2 || got[0].key != "k/b" || got[1].key != "k/c" {
		t.Fatalf("evictable: %v; want k/b then k/c", keys(got))
	}
	if got := tb.evictable(1, t0.Add(time.Hour)); len(got) != 1 || got[0].key != "k/b" {
		t.Fatalf("evictable(1): %v; want k/b", keys(got))
	}
	if !tb.removeIf("k/b", pid("k/b")) || tb.removeIf("k/c", pid("other")) {
		t.Fatal("removeIf removes only the activation named")
	}
	tb.remove("k/leader")
	if tb.len() != 3 || tb.unpinned() != 3 {
		t.Fatalf("after removals: len %d, unpinned %d; want 3 and 3", tb.len(), tb.unpinned())
	}
}

func keys(es []*tableEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.key
	}
	return out
}
