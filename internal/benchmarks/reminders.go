package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains/remindertest"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
)

// ReminderLateness sets n reminders on n grains of three in-process
// members (testcluster, one Consul dev agent), all due within window, one
// in ten periodic (period window/6), and waits for every firing. With
// stopMember, the third member leaves a third of the way into the window
// (a graceful stop: its shards and grains move to the survivors). It
// reports the lateness of the firings (when the handler ran minus when
// the firing was due), p50 and p99, and the one-shot handlers that ran
// more than once, and fails if a reminder never fired or a periodic one
// left its grid. b.N is ignored.
func ReminderLateness(b *testing.B, n int, window time.Duration, stopMember bool) {
	agent := testconsul.Start(b, testconsul.Options{})
	rec := &remindertest.Recorder{}
	reg := actors.NewRegistry()
	if err := remindertest.Register(reg, rec); err != nil {
		b.Fatal(err)
	}
	nodes := testcluster.Start(b, agent.HTTPAddr(), reg, 3, nil)
	period := window / 6

	// Set every reminder, due from setBudget on: setting takes a call and
	// a Consul write each, 64 at a time.
	const setBudget = 40 * time.Second
	start := time.Now().Add(setBudget)
	due := func(i int) time.Time { return start.Add(time.Duration(i) * window / time.Duration(n)) }
	ctx, cancel := context.WithTimeout(context.Background(), setBudget+3*window)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				cmd := remindertest.Command{Op: "set", Name: "r", AfterMs: time.Until(due(i)).Milliseconds()}
				if i%10 == 0 {
					cmd.PeriodMs = period.Milliseconds()
				}
				payload, _ := json.Marshal(cmd)
				if _, err := nodes[(i+w)%3].Client().CallRaw(ctx, remindertest.Kind, fmt.Sprintf("rem%d", i), payload); err != nil {
					errs <- fmt.Errorf("setting reminder %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if took := time.Since(start.Add(-setBudget)); took > setBudget {
		b.Fatalf("setting %d reminders took %v, over the %v budget: they were not set before they were due", n, took, setBudget)
	}
	b.ResetTimer()
	if stopMember {
		time.Sleep(time.Until(start.Add(window / 3)))
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		if err := nodes[2].Stop(sctx); err != nil {
			b.Logf("stopping %s: %v", nodes[2].ID(), err)
		}
		scancel()
	}
	// Every one-shot fires once; every periodic one fires at each tick due
	// before the window's end plus a period.
	end := start.Add(window + period)
	wantPeriodic := 0
	for i := 0; i < n; i += 10 {
		for d := due(i); d.Before(end); d = d.Add(period) {
			wantPeriodic++
		}
	}
	want := n - (n+9)/10 + wantPeriodic
	for ctx.Err() == nil && len(rec.Firings("")) < want {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Until(end.Add(time.Second)))
	fs := rec.Firings("")
	var late []time.Duration
	per := map[string][]time.Time{}
	for _, f := range fs {
		if f.Due.Before(end) {
			late = append(late, f.At.Sub(f.Due))
		}
		per[f.Identity] = append(per[f.Identity], f.Due)
	}
	missing, repeated, offGrid := 0, 0, 0
	for i := range n {
		dues := per[fmt.Sprintf("rem%d", i)]
		switch {
		case len(dues) == 0:
			missing++
		case i%10 != 0 && len(dues) > 1:
			repeated++
		case i%10 == 0:
			// The grid starts at the first due time, which the grain
			// set from its clock when the request arrived.
			for _, d := range dues {
				if d.Sub(dues[0])%period != 0 {
					offGrid++
				}
			}
		}
	}
	slices.Sort(late)
	b.ReportMetric(float64(percentile(late, 0.5).Microseconds())/1000, "late-p50-ms")
	b.ReportMetric(float64(percentile(late, 0.99).Microseconds())/1000, "late-p99-ms")
	b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "late-max-ms")
	b.ReportMetric(float64(len(late)), "firings")
	b.ReportMetric(float64(missing), "never-fired")
	// A handler runs at least once per due time: a firing whose write did
	// not land (its member stopping with it in flight) runs again on the
	// grain's next activation, whose stored state it then changes once.
	b.ReportMetric(float64(repeated), "one-shot-handler-reruns")
	if missing+offGrid > 0 {
		b.Fatalf("%d reminders never fired, %d periodic firings off their grid", missing, offGrid)
	}
}
