package benchmarks

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
)

// probeIdentities: the grain probe calls whoami on this many identities in
// turn, which placement spreads over every member (the one killed too).
const probeIdentities = 256

// grainProbe calls a grain over and over from a few callers while
// something else happens (a failover), keeping each call's latency: what
// that costs the grain calls of a cluster.
type grainProbe struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	lat    []time.Duration
	errs   int
}

// startGrainProbe starts callers callers of whoami through c.
func startGrainProbe(c *client.Client, callers int) *grainProbe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &grainProbe{cancel: cancel}
	for w := range callers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for i := w; ctx.Err() == nil; i += callers {
				t0 := time.Now()
				cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := c.CallRaw(cctx, "whoami", fmt.Sprintf("probe-%d", i%probeIdentities), nil)
				ccancel()
				if ctx.Err() != nil {
					return // cut by stop: neither a latency nor an error
				}
				p.mu.Lock()
				if err != nil {
					p.errs++
				} else {
					p.lat = append(p.lat, time.Since(t0))
				}
				p.mu.Unlock()
			}
		}()
	}
	return p
}

// probeStats is what a grain probe saw.
type probeStats struct {
	calls, errs int
	p50, p99    time.Duration
	max         time.Duration
}

// stop ends the probe and returns its calls' latencies.
func (p *grainProbe) stop() probeStats {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := probeStats{calls: len(p.lat), errs: p.errs}
	if len(p.lat) == 0 {
		return st
	}
	slices.Sort(p.lat)
	st.p50, st.p99, st.max = p.lat[len(p.lat)/2], p.lat[len(p.lat)*99/100], p.lat[len(p.lat)-1]
	return st
}

// report reports the stats as name-prefixed metrics.
func (st probeStats) report(b *testing.B, name string) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(st.calls), name+"-calls")
	b.ReportMetric(float64(st.errs), name+"-errors")
	b.ReportMetric(ms(st.p50), name+"-p50-ms")
	b.ReportMetric(ms(st.p99), name+"-p99-ms")
	b.ReportMetric(ms(st.max), name+"-max-ms")
}
