package supervisor

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestBackoffValidate(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		ok   bool
	}{
		{"zero means no backoff", Backoff{}, true},
		{"default", DefaultBackoff(), true},
		{"constant", Backoff{Initial: time.Second, Multiplier: 1, Max: time.Second}, true},
		{"negative initial", Backoff{Initial: -1, Multiplier: 2, Max: time.Second}, false},
		{"zero initial with other fields", Backoff{Multiplier: 2, Max: time.Second}, false},
		{"multiplier below one", Backoff{Initial: 1, Multiplier: 0.5, Max: time.Second}, false},
		{"multiplier zero", Backoff{Initial: 1, Max: time.Second}, false},
		{"multiplier NaN", Backoff{Initial: 1, Multiplier: math.NaN(), Max: time.Second}, false},
		{"multiplier Inf", Backoff{Initial: 1, Multiplier: math.Inf(1), Max: time.Second}, false},
		{"max below initial", Backoff{Initial: time.Second, Multiplier: 2, Max: time.Millisecond}, false},
		{"unknown jitter", Backoff{Initial: 1, Multiplier: 2, Max: 2, Jitter: Jitter(9)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.b.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidBackoff) {
				t.Fatalf("error %v does not wrap ErrInvalidBackoff", err)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	exp := Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: 2 * time.Second}
	full, equal := exp, exp
	full.Jitter, equal.Jitter = JitterFull, JitterEqual
	ms := time.Millisecond
	tests := []struct {
		name string
		b    Backoff
		n    int
		rnd  float64
		want time.Duration
	}{
		{"zero backoff", Backoff{}, 5, 0.5, 0},
		{"n=0 counts as 1", exp, 0, 0, 100 * ms},
		{"n=1", exp, 1, 0.9, 100 * ms},
		{"n=2", exp, 2, 0, 200 * ms},
		{"n=5", exp, 5, 0, 1600 * ms},
		{"capped", exp, 6, 0, 2 * time.Second},
		{"huge n", exp, math.MaxInt, 0, 2 * time.Second},
		{"huge multiplier", Backoff{Initial: 1, Multiplier: math.MaxFloat64, Max: math.MaxInt64}, 3, 0, math.MaxInt64},
		{"multiplier one", Backoff{Initial: ms, Multiplier: 1, Max: time.Hour}, 1000, 0, ms},
		{"full rnd=0", full, 3, 0, 0},
		{"full rnd=0.5", full, 3, 0.5, 200 * ms},
		{"full rnd=1 clamps to top", full, 3, 1, 400 * ms},
		{"full rnd NaN clamps to bottom", full, 3, math.NaN(), 0},
		{"full rnd negative", full, 3, -3, 0},
		{"equal rnd=0", equal, 3, 0, 200 * ms},
		{"equal rnd=0.5", equal, 3, 0.5, 300 * ms},
		{"equal rnd=2", equal, 3, 2, 400 * ms},
		{"equal odd ceiling rounds the floor up", Backoff{Initial: 3, Multiplier: 1, Max: 3, Jitter: JitterEqual}, 1, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Delay(tt.n, tt.rnd); got != tt.want {
				t.Fatalf("Delay(%d, %v) = %s, want %s", tt.n, tt.rnd, got, tt.want)
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	for _, j := range []Jitter{JitterNone, JitterFull, JitterEqual} {
		b := DefaultBackoff()
		b.Jitter = j
		for n := 1; n <= 20; n++ {
			c := b.Ceiling(n)
			for i := 0; i <= 100; i++ {
				rnd := float64(i) / 101
				checkDelay(t, b, n, rnd, b.Delay(n, rnd), c)
			}
		}
	}
}

// checkDelay asserts the guarantees Backoff.Delay documents.
func checkDelay(t *testing.T, b Backoff, n int, rnd float64, d, c time.Duration) {
	t.Helper()
	if c < b.Initial || c > b.Max {
		t.Fatalf("%+v: Ceiling(%d) = %d outside [Initial, Max]", b, n, c)
	}
	lo := time.Duration(0)
	switch b.Jitter {
	case JitterNone:
		lo = c
	case JitterEqual:
		lo = c - c/2
		if lo < b.Initial-b.Initial/2 {
			t.Fatalf("%+v: equal-jitter floor %d below Initial/2", b, lo)
		}
	}
	if d < lo || d > c {
		t.Fatalf("%+v: Delay(%d, %v) = %d outside [%d, %d]", b, n, rnd, d, lo, c)
	}
}

func FuzzBackoffDelay(f *testing.F) {
	f.Add(int64(100*time.Millisecond), 2.0, int64(30*time.Second), uint8(0), 1, 0.5)
	f.Add(int64(100*time.Millisecond), 2.0, int64(30*time.Second), uint8(1), 64, 0.999)
	f.Add(int64(1), 1e308, int64(math.MaxInt64), uint8(2), math.MaxInt, 0.0)
	f.Add(int64(math.MaxInt64), 1.0000001, int64(math.MaxInt64), uint8(2), 3, 0.75)
	f.Add(int64(3), 1.5, int64(7), uint8(2), 2, math.NaN())
	f.Add(int64(0), 0.0, int64(0), uint8(0), -5, -1.0)
	f.Add(int64(-5), -2.0, int64(-9), uint8(200), math.MinInt, math.Inf(1))
	f.Fuzz(func(t *testing.T, initial int64, mult float64, maxDelay int64, jitter uint8, n int, rnd float64) {
		b := Backoff{Initial: time.Duration(initial), Multiplier: mult, Max: time.Duration(maxDelay), Jitter: Jitter(jitter % 4)}
		d := b.Delay(n, rnd) // must not panic, even for an invalid Backoff
		if d < 0 || d > max(b.Initial, b.Max, 0) {
			t.Fatalf("%+v: Delay(%d, %v) = %d outside [0, max(Initial, Max)]", b, n, rnd, d)
		}
		if b.Validate() != nil || b.IsZero() {
			return
		}
		c := b.Ceiling(n)
		checkDelay(t, b, n, rnd, d, c)
		if n < math.MaxInt && b.Ceiling(n+1) < c {
			t.Fatalf("%+v: Ceiling decreased from n=%d to n+1", b, n)
		}
	})
}
