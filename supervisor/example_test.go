package supervisor_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/supervisor"
)

func ExampleBackoff_Delay() {
	b := supervisor.Backoff{Initial: 100 * time.Millisecond, Multiplier: 2, Max: time.Second}
	var delays []time.Duration
	for n := 1; n <= 6; n++ {
		delays = append(delays, b.Delay(n, 0))
	}
	fmt.Println(delays)

	// Full jitter scales the same ceiling by the caller's random number.
	b.Jitter = supervisor.JitterFull
	fmt.Println(b.Delay(3, 0.25), b.Delay(3, 0.5))
	// Output:
	// [100ms 200ms 400ms 800ms 1s 1s]
	// 100ms 200ms
}

func ExampleTree_Failed() {
	// A task: one transient "attempt" child, at most 3 attempts in total.
	tree, err := supervisor.NewTree(supervisor.Spec{
		Budget:  supervisor.Budget{MaxRestarts: 2},
		Backoff: supervisor.Backoff{Initial: time.Second, Multiplier: 2, Max: time.Minute},
	}, supervisor.Child{ID: "attempt", Restart: supervisor.Transient})
	if err != nil {
		panic(err)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	failure := supervisor.Failure{Cause: supervisor.CauseError, Err: errors.New("connection refused")}
	for range 3 {
		d := tree.Failed("attempt", failure, now, 0)
		fmt.Printf("%s %v after %s: %s\n", d.Directive, d.Targets, d.Delay, d.Reason)
		now = now.Add(d.Delay)
	}
	// Output:
	// restart [attempt] after 1s: restart 1 in 1s after error: connection refused
	// restart [attempt] after 2s: restart 2 in 2s after error: connection refused
	// escalate [] after 0s: restart budget exhausted: 2 restarts, max 2 restarts over the supervisor's lifetime; last failure: error: connection refused
}

func ExampleWatchdog_Check() {
	w := supervisor.Watchdog{AttemptTimeout: time.Minute, HeartbeatTimeout: 10 * time.Second}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	_, expired, next := w.Check(start, start.Add(5*time.Second), start.Add(8*time.Second))
	fmt.Println(expired, next.Sub(start))

	cause, expired, _ := w.Check(start, start.Add(5*time.Second), start.Add(20*time.Second))
	fmt.Println(expired, w.Failure(cause, start))
	// Output:
	// false 15s
	// true heartbeat_timeout: no heartbeat for 10s
}
