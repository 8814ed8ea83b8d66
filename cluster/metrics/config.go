package metrics

import (
	"fmt"
	"slices"

	"github.com/granary-rt/granary/cluster/errs"
)

// ErrInvalidConfig wraps every error of Config.Validate.
var ErrInvalidConfig = errs.New("invalid metrics configuration", errs.ErrInvalidConfig)

// Config configures a Metrics: the buckets of its histograms, in seconds.
type Config struct {
	// AttemptBuckets bound granary_task_attempt_duration_seconds.
	AttemptBuckets []float64
	// CallBuckets bound granary_grain_call_duration_seconds.
	CallBuckets []float64
	// StoreBuckets bound granary_store_operation_duration_seconds,
	// granary_grain_state_operation_duration_seconds and
	// granary_consul_request_duration_seconds.
	StoreBuckets []float64
	// HTTPBuckets bound granary_http_request_duration_seconds.
	HTTPBuckets []float64
	// AdoptionBuckets bound granary_failover_adoption_seconds.
	AdoptionBuckets []float64
}

// DefaultConfig returns the documented buckets.
func DefaultConfig() Config {
	return Config{
		// 1ms to about 1h (x4 per bucket): tasks range from lookups that
		// finish within the 10ms first-write hold to batch jobs of an hour,
		// and 12 buckets keep a kind's histogram at 14 series per outcome.
		AttemptBuckets: expBuckets(0.001, 4, 12),
		// 100µs to about 6.5s (x3): a grain call on one member takes tens of
		// microseconds, across members a millisecond, and a call that waits
		// out a failover seconds (CallTimeout is 10s).
		CallBuckets: expBuckets(0.0001, 3, 11),
		// 250µs to about 4s (x2): a Consul KV write takes
		// 1-10ms, a bbolt write with fsync a few ms; seconds mean Consul is
		// electing a leader or overloaded.
		StoreBuckets: expBuckets(0.00025, 2, 15),
		// Prometheus' own default buckets (5ms to 10s): the API's requests
		// are store round trips or grain calls plus HTTP; long polls are
		// counted but their route's histogram shows how long they waited.
		HTTPBuckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		// 0.25s to 60s: adoption follows the view change within a sweep
		// (hundreds of milliseconds); seconds mean the store was slow;
		// beyond a minute is an outage.
		AdoptionBuckets: []float64{.25, .5, 1, 2, 3, 5, 10, 20, 30, 60},
	}
}

// Validate reports buckets Prometheus would refuse: empty or not strictly
// increasing.
func (c Config) Validate() error {
	for name, b := range map[string][]float64{"AttemptBuckets": c.AttemptBuckets, "CallBuckets": c.CallBuckets,
		"StoreBuckets": c.StoreBuckets, "HTTPBuckets": c.HTTPBuckets, "AdoptionBuckets": c.AdoptionBuckets} {
		if len(b) == 0 {
			return fmt.Errorf("%w: %s is empty", ErrInvalidConfig, name)
		}
		if !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
			return fmt.Errorf("%w: %s must be strictly increasing, got %v", ErrInvalidConfig, name, b)
		}
	}
	return nil
}

// withDefaults gives each empty bucket list DefaultConfig's.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	for _, b := range []struct{ dst, def *[]float64 }{
		{&c.AttemptBuckets, &def.AttemptBuckets}, {&c.CallBuckets, &def.CallBuckets}, {&c.StoreBuckets, &def.StoreBuckets},
		{&c.HTTPBuckets, &def.HTTPBuckets}, {&c.AdoptionBuckets, &def.AdoptionBuckets},
	} {
		if len(*b.dst) == 0 {
			*b.dst = *b.def
		}
	}
	return c
}

func expBuckets(start, factor float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start
		start *= factor
	}
	return out
}
