package logevery

import (
	"testing"
	"time"
)

// TestLimiter: one line per period gets through, and the next one counts
// those held back.
func TestLimiter(t *testing.T) {
	l := Limiter{Period: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	if ok, held := l.Allow(t0); !ok || held != 0 {
		t.Fatalf("first line: %v %d, want through with 0 held", ok, held)
	}
	for i := range 31 { // the other shards, failing at once
		if ok, _ := l.Allow(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			t.Fatalf("line %d within the period got through", i+2)
		}
	}
	if ok, held := l.Allow(t0.Add(10 * time.Second)); !ok || held != 31 {
		t.Fatalf("line after the period: %v %d, want through with 31 held", ok, held)
	}
	if ok, held := l.Allow(t0.Add(11 * time.Second)); ok || held != 0 {
		t.Fatalf("a line 1s after the last one let through: %v %d, want held back", ok, held)
	}
}
