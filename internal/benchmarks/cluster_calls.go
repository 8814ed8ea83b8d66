package benchmarks

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Caller makes one grain call on a running two-member cluster. Call i goes
// to one of a fixed set of identities owned by the member that does not
// make the call, so every call crosses the loopback network once each way.
type Caller interface {
	Call(ctx context.Context, i int) error
	Close()
}

// CallStats summarises one batch of calls.
type CallStats struct {
	P50, P99 time.Duration // latency of one call, start to answer
	Rate     float64       // calls per second over the whole batch
	// CPU is this process's CPU time (both members and the callers) per
	// call: it moves much less than rates and latencies do when the
	// machine's neighbours are busy.
	CPU time.Duration
}

// MeasureCalls makes n calls from callers goroutines and times each one.
func MeasureCalls(ctx context.Context, c Caller, n, callers int) (CallStats, error) {
	var next atomic.Int64
	lat := make([][]time.Duration, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	cpu0, err := cpuTime(0)
	if err != nil {
		return CallStats{}, err
	}
	start := time.Now()
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, n/callers+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					break
				}
				t := time.Now()
				if err := c.Call(ctx, i); err != nil {
					errs[w] = fmt.Errorf("call %d: %w", i, err)
					break
				}
				mine = append(mine, time.Since(t))
			}
			lat[w] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := cpuTime(0)
	if err != nil {
		return CallStats{}, err
	}
	for _, err := range errs {
		if err != nil {
			return CallStats{}, err
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return CallStats{P50: percentile(all, 0.50), P99: percentile(all, 0.99), Rate: float64(n) / elapsed.Seconds(), CPU: (cpu1 - cpu0) / time.Duration(n)}, nil
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// CallIdentities is how many distinct identities the call benchmarks use:
// more than Callers, so concurrent callers mostly hit different
// activations, as they would in a real workload.
const CallIdentities = 64

// echoJSON is the request body both sides echo: a small JSON document,
// what a typical grain call carries.
const echoJSON = `{"op":"echo","n":12345,"who":"bench"}`

// EchoPayloadBytes is the size of the echoed payload.
const EchoPayloadBytes = len(echoJSON)

var echoPayload = []byte(echoJSON)
