package benchmarks

import (
	"testing"
	"time"
)

// TestLongestGap: the gap across the kill counts from the last success
// before it, successes after the window do not count, and a load that
// never resumed counts up to the end.
func TestLongestGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) *stallLoad {
		l := &stallLoad{}
		for _, m := range ms {
			l.done = append(l.done, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return l
	}
	for _, tc := range []struct {
		name       string
		load       *stallLoad
		since, end int
		want       time.Duration
	}{
		{"steady", at(0, 100, 200, 300), 0, 300, 100 * time.Millisecond},
		{"a stall across the kill at 150", at(0, 100, 2100, 2200), 150, 2200, 2000 * time.Millisecond},
		{"only the last success before since counts", at(0, 4800, 5000, 5100), 4900, 5100, 200 * time.Millisecond},
		{"after end does not count", at(0, 100, 9000), 0, 200, 100 * time.Millisecond},
		{"never resumed", at(0, 100), 150, 3000, 2900 * time.Millisecond},
		{"nothing at all", at(), 0, 500, 500 * time.Millisecond},
		{"unsorted", at(300, 0, 200, 100), 0, 300, 100 * time.Millisecond},
	} {
		since, end := t0.Add(time.Duration(tc.since)*time.Millisecond), t0.Add(time.Duration(tc.end)*time.Millisecond)
		if got := tc.load.longestGap(since, end); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
