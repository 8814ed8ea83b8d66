package tasks

import "testing"

func TestHoldLearnsSlowKinds(t *testing.T) {
	var l holdLearner
	if !l.hold("quick") {
		t.Fatal("a new kind is not held: it should be presumed quick")
	}
	for i := 0; i < 20; i++ {
		l.observe("quick", true)
		l.observe("slow", false)
	}
	held := 0
	for i := 0; i < 10*holdRetry; i++ {
		if !l.hold("quick") {
			t.Fatal("a quick kind was not held")
		}
		if l.hold("slow") {
			held++
		}
	}
	if held != 10 {
		t.Fatalf("a slow kind was held %d times in %d submits, want %d (one in %d, to look again)", held, 10*holdRetry, 10, holdRetry)
	}
	// A slow kind that became quick is held again after a few looks.
	for i := 0; i < 10; i++ {
		l.observe("slow", true)
	}
	if !l.hold("slow") {
		t.Fatal("a kind that became quick is still not held")
	}
}

func TestShouldHold(t *testing.T) {
	for _, c := range []struct {
		quick float64
		asked uint64
		want  bool
	}{{1, 1, true}, {0.5, 3, true}, {0.49, 3, false}, {0, holdRetry, true}, {0, holdRetry + 1, false}} {
		if got := shouldHold(c.quick, c.asked); got != c.want {
			t.Errorf("shouldHold(%v, %d) = %v, want %v", c.quick, c.asked, got, c.want)
		}
	}
}
