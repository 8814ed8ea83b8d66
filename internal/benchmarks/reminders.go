package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/examples/kinds"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
)

// ReminderLateness sets n reminders on n grains of the stock alarm kind,
// through three `granary node` processes sharing one Consul agent, all due
// within window, one in ten periodic (period window/6), and reads every
// grain's record of its firings after the window. With kill, the third
// member is killed with SIGKILL a third of the way into the window: its
// shards of the reminder index and its grains move to the survivors once
// Consul ends its session. It reports the lateness of the firings due
// within the window (when the handler ran minus when the firing was due),
// p50, p99 and max, and the ticks periodic reminders skipped (a tick
// missed while its grain was unreachable fires once), and fails if a
// reminder never fired, a one-shot reminder fired twice or a periodic one
// left its grid. b.N is ignored.
func ReminderLateness(b *testing.B, n int, window time.Duration, kill bool) {
	nodes, clients := threeNodes(b, "reminders", "r")
	period := window / 6

	// Every reminder is set before the first is due: setting takes a call
	// (an activation: a claim and a read in Consul) and a write each.
	const setBudget = 60 * time.Second
	start := time.Now().Add(setBudget)
	due := func(i int) time.Time { return start.Add(time.Duration(i) * window / time.Duration(n)) }
	ctx, cancel := context.WithTimeout(context.Background(), setBudget+4*window)
	defer cancel()
	err := runAll(setters, 0, n, func(i int) error {
		req := kinds.AlarmReq{Op: "set", Name: "r", AfterMs: time.Until(due(i)).Milliseconds()}
		if i%10 == 0 {
			req.PeriodMs = period.Milliseconds()
		}
		payload, _ := json.Marshal(req)
		if _, err := clients[i%3].CallRaw(ctx, "alarm", alarmID(i), payload); err != nil {
			return fmt.Errorf("setting reminder %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if took := time.Since(start.Add(-setBudget)); took > setBudget {
		b.Fatalf("setting %d reminders took %v, over the %v budget: they were not set before they were due", n, took, setBudget)
	}
	b.ResetTimer()
	live := clients
	if kill {
		time.Sleep(time.Until(start.Add(window / 3)))
		nodes[2].Kill()
		live = clients[:2]
	}
	// Every firing due before end is in the records once the window and a
	// period have passed, plus the failover time after a kill.
	end := start.Add(window + period)
	time.Sleep(time.Until(end.Add(10 * time.Second)))
	firings := make([][]kinds.AlarmFiring, n)
	err = runAll(setters, 0, n, func(i int) error {
		var resp kinds.AlarmResp
		r, err := live[i%len(live)].CallRaw(ctx, "alarm", alarmID(i), []byte(`{"op":"get"}`))
		if err == nil {
			err = json.Unmarshal(r.Result, &resp)
		}
		if err != nil {
			return fmt.Errorf("reading alarm %d: %w", i, err)
		}
		firings[i] = resp.Firings
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var late []time.Duration
	missing, repeated, offGrid, ticks, skipped := 0, 0, 0, 0, 0
	for i, fs := range firings {
		for _, f := range fs {
			if d := time.Unix(0, f.DueNs); d.Before(end) {
				late = append(late, time.Duration(f.AtNs-f.DueNs))
			}
		}
		switch {
		case len(fs) == 0:
			missing++
		case i%10 != 0 && len(fs) > 1:
			repeated++
		case i%10 == 0:
			// The grid starts at the first due time, which the grain set
			// from its member's clock when the request arrived; a tick
			// missed while the grain was unreachable fires once, late,
			// and the next is on the grid again.
			for _, f := range fs {
				if time.Unix(0, f.DueNs).Before(end) {
					ticks++
				}
			}
			for k := 1; k < len(fs); k++ {
				switch gap := fs[k].DueNs - fs[k-1].DueNs; {
				case gap <= 0 || gap%int64(period) != 0:
					offGrid++
				case gap > int64(period):
					skipped += int(gap/int64(period)) - 1
				}
			}
		}
	}
	slices.Sort(late)
	b.ReportMetric(float64(percentile(late, 0.5).Microseconds())/1000, "late-p50-ms")
	b.ReportMetric(float64(percentile(late, 0.99).Microseconds())/1000, "late-p99-ms")
	b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "late-max-ms")
	b.ReportMetric(float64(len(late)), "firings")
	b.ReportMetric(float64(ticks), "periodic-firings")
	b.ReportMetric(float64(skipped), "periodic-ticks-skipped")
	b.ReportMetric(float64(missing), "never-fired")
	if missing+repeated+offGrid > 0 {
		b.Fatalf("%d reminders never fired, %d one-shot reminders fired more than once, %d periodic firings off their grid", missing, repeated, offGrid)
	}
}

// setters is how many calls the reminder benchmark makes at once.
const setters = 64

func alarmID(i int) string { return fmt.Sprintf("alarm%d", i) }

// waitMembers waits until each client's node lists want members.
// threeNodes starts a Consul agent and three `granary node` processes of
// cluster, ids prefix1 to prefix3, each with a client of its own (setters
// connections), and waits until each sees all three.
func threeNodes(b *testing.B, cluster, prefix string) ([]*testnode.Node, []*client.Client) {
	agent := testconsul.Start(b, testconsul.Options{})
	nodes := make([]*testnode.Node, 3)
	clients := make([]*client.Client, 3)
	for i := range nodes {
		nodes[i] = testnode.ClusterNode(b, cluster, agent.HTTPAddr(), fmt.Sprintf("%s%d", prefix, i+1), "--log-level", "warn")
		c, err := client.New(client.Config{Addr: nodes[i].HTTP, HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: setters}}})
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	waitMembers(b, clients, 3)
	return nodes, clients
}

func waitMembers(b *testing.B, clients []*client.Client, want int) {
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range clients {
		for {
			ms, err := c.Members(context.Background())
			if err == nil && len(ms) == want {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the nodes do not list each other: %v, %v", ms, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
