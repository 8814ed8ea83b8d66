package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
)

// ScheduleLateness declares n schedules of every `every` (overlap allow,
// the stock echo kind) through three `granary node` processes sharing one
// Consul agent, lets them run for window, pauses them, and reads every run.
// With kill, the third member is killed with SIGKILL a third of the way
// into the window: the schedules it fired move to the survivors once Consul
// ends its session, and they catch up the slots missed meanwhile. It
// reports the lateness of the runs (when each run's first attempt started
// minus its scheduled time), p50, p99 and max, and fails if a schedule
// lost a slot between its first run and its last or ran one twice. b.N is
// ignored.
func ScheduleLateness(b *testing.B, n int, every, window time.Duration, kill bool) {
	nodes, clients := threeNodes(b, "schedules", "s")
	ctx, cancel := context.WithTimeout(context.Background(), 4*window+2*time.Minute)
	defer cancel()
	spec := api.ScheduleSpec{Cron: fmt.Sprintf("@every %s", every), Overlap: "allow", Task: api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`1`)}}
	err := runAll(setters, 0, n, func(i int) error {
		_, err := clients[i%3].PutSchedule(ctx, scheduleID(i), spec)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	live := clients
	if kill {
		time.Sleep(time.Until(start.Add(window / 3)))
		nodes[2].Kill()
		live = clients[:2]
	}
	time.Sleep(time.Until(start.Add(window)))
	err = runAll(setters, 0, n, func(i int) error {
		_, err := live[i%len(live)].PauseSchedule(ctx, scheduleID(i))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	late, lost, doubled, runs := scheduleRuns(b, ctx, live[0], n, every)
	slices.Sort(late)
	b.ReportMetric(float64(percentile(late, 0.5).Microseconds())/1000, "late-p50-ms")
	b.ReportMetric(float64(percentile(late, 0.99).Microseconds())/1000, "late-p99-ms")
	b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "late-max-ms")
	b.ReportMetric(float64(runs), "runs")
	b.ReportMetric(float64(lost), "lost")
	if lost+doubled > 0 {
		b.Fatalf("%d slots lost, %d runs doubled", lost, doubled)
	}
}

// scheduleRuns reads every run of the n schedules once all have started,
// and returns their lateness and the slots lost or run twice.
func scheduleRuns(b *testing.B, ctx context.Context, c *client.Client, n int, every time.Duration) (late []time.Duration, lost, doubled, runs int) {
	var all []*api.Status
	for {
		var err error
		all, err = c.ListAll(ctx, client.ListOptions{Kind: "echo"})
		if err != nil {
			b.Fatal(err)
		}
		if !slices.ContainsFunc(all, func(s *api.Status) bool { return s.Attempts == 0 }) {
			break
		}
		if ctx.Err() != nil {
			b.Fatalf("runs not all started: %v", ctx.Err())
		}
		time.Sleep(time.Second) // a run adopted from the killed member starts after the failover
	}
	slots := map[string][]time.Time{}
	for _, s := range all {
		first := s.StartedAt
		if len(s.Errors) > 0 && s.Errors[0].StartedAt != nil {
			first = s.Errors[0].StartedAt // the attempt lost with the killed member
		}
		if s.ScheduleSlot == nil || first == nil {
			continue
		}
		late = append(late, first.Sub(*s.ScheduleSlot))
		slots[s.Schedule] = append(slots[s.Schedule], *s.ScheduleSlot)
	}
	for i := range n {
		ss := slots[scheduleID(i)]
		slices.SortFunc(ss, time.Time.Compare)
		for k := 1; k < len(ss); k++ {
			switch gap := ss[k].Sub(ss[k-1]); {
			case gap == 0:
				doubled++
			case gap > every:
				lost += int(gap/every) - 1
			}
		}
	}
	return late, lost, doubled, len(late)
}

func scheduleID(i int) string { return fmt.Sprintf("bench-%04d", i) }
