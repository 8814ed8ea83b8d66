package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
)

// JobTasks is how many children the job restart benchmark's job has.
const JobTasks = 100

// JobPoll is how often the job restart benchmark reads the tasks' states:
// it bounds the error of every figure (each is read at the first poll that
// sees the tasks running).
const JobPoll = 20 * time.Millisecond

// JobRestart measures, rounds times, a one_for_all restart of a job of
// JobTasks children on members `granary` processes (1: `granary dev`; more:
// `granary node` members on one Consul agent): JobTasks-1 long-running
// sleep tasks and one hang task whose first attempt times out after 1s and
// fails for good (max_attempts 1), so the job terminates every sibling,
// waits for its exit, and starts all of them again. A round's figure is
// the time from the failure (the stored error's at) until every child has
// started its second attempt and every sleep runs again, read through the
// HTTP API every JobPoll. As the raw baseline, each round also cancels
// JobTasks plain sleep tasks, waits until all are cancelled, and submits
// JobTasks new ones until all run: what a user without a supervisor would
// do. It reports p50 and max of both (seconds). b.N is ignored.
func JobRestart(b *testing.B, members, rounds int) {
	clients := jobRig(b, members)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*3*time.Minute)
	defer cancel()
	compareRounds(b, rounds,
		roundSide{"job", "one_for_all restart", func(r int) (time.Duration, error) { return groupRestart(ctx, clients, fmt.Sprintf("jr%d", r)) }},
		roundSide{"raw", "cancel and resubmit", func(r int) (time.Duration, error) { return cancelResubmit(ctx, clients, fmt.Sprintf("raw%d", r)) }})
}

// roundSide is one side of a comparison in rounds: its metric's name, what
// it does, and one round of it.
type roundSide struct {
	metric, what string
	round        func(r int) (time.Duration, error)
}

// compareRounds runs rounds of both sides, one after the other in each
// round, and reports each side's p50 and max (seconds) as
// <metric>-p50-s and <metric>-max-s.
func compareRounds(b *testing.B, rounds int, sides ...roundSide) {
	took := make([][]time.Duration, len(sides))
	for r := range rounds {
		line := fmt.Sprintf("round %d:", r)
		for i, s := range sides {
			d, err := s.round(r)
			if err != nil {
				// Also on stderr: benchreport runs benchmarks through
				// testing.Benchmark, which drops a failed one's log.
				fmt.Fprintf(os.Stderr, "benchmark: round %d, %s: %v\n", r, s.what, err)
				b.Fatalf("round %d, %s: %v", r, s.what, err)
			}
			took[i] = append(took[i], d)
			line += fmt.Sprintf(" %s %v", s.what, d)
		}
		b.Log(line)
	}
	for i, s := range sides {
		ds := took[i]
		slices.Sort(ds)
		b.ReportMetric(percentile(ds, 0.5).Seconds(), s.metric+"-p50-s")
		b.ReportMetric(ds[len(ds)-1].Seconds(), s.metric+"-max-s")
	}
}

// jobRig starts one `granary dev` (members 1) or members `granary node`
// processes on a fresh Consul agent, and returns a client of each.
func jobRig(b *testing.B, members int) []*client.Client {
	if members == 1 {
		return []*client.Client{testnode.Dev(b, "--log-level", "warn").Client()}
	}
	agent := testconsul.Start(b, testconsul.Options{})
	clients := make([]*client.Client, members)
	for i := range clients {
		clients[i] = testnode.ClusterNode(b, "jobrestart", agent.HTTPAddr(), fmt.Sprintf("j%d", i+1), "--log-level", "warn").Client()
	}
	waitMembers(b, clients, members)
	return clients
}

// sleeps returns n submissions of a ten-minute sleep labelled bench=name,
// with ids name-000...
func sleeps(name string, n int, job api.SubmitRequest) []api.SubmitRequest {
	reqs := make([]api.SubmitRequest, n)
	for i := range reqs {
		reqs[i] = job
		reqs[i].ID, reqs[i].Kind = fmt.Sprintf("%s-%03d", name, i), "sleep"
		reqs[i].Payload = json.RawMessage(`{"ms":600000}`)
		reqs[i].Labels = map[string]string{"bench": name}
	}
	return reqs
}

// groupRestart runs one round of the supervised restart on job name and
// stops the job after it.
func groupRestart(ctx context.Context, clients []*client.Client, name string) (time.Duration, error) {
	job := api.SubmitRequest{JobID: name, JobStrategy: "one_for_all", JobMaxRestarts: 3}
	c := clients[0]
	if err := submitAll(ctx, c, sleeps(name, JobTasks-1, job)); err != nil {
		return 0, err
	}
	if _, err := awaitTasks(ctx, c, name, JobTasks-1, func(st *api.Status) bool { return st.State == "running" }); err != nil {
		return 0, err
	}
	one, timeout := 1, api.Duration(time.Second)
	x := job
	x.ID, x.Kind, x.Payload = name+"-x", "hang", json.RawMessage(`{"succeed_on_attempt":2}`)
	x.Labels = map[string]string{"bench": name}
	x.Policy = &api.Policy{MaxAttempts: &one, AttemptTimeout: &timeout}
	if _, err := clients[len(clients)-1].Submit(ctx, x); err != nil {
		return 0, err
	}
	sts, err := awaitTasks(ctx, c, name, JobTasks, func(st *api.Status) bool {
		return st.Attempts >= 2 && (st.Kind == "hang" || st.State == "running")
	})
	seen := time.Now()
	if err != nil {
		return 0, err
	}
	defer func() { _, _ = c.StopJob(context.WithoutCancel(ctx), name, "benchmark round over") }()
	for _, st := range sts {
		if st.ID == x.ID && len(st.Errors) > 0 {
			return seen.Sub(st.Errors[0].At), nil
		}
	}
	return 0, fmt.Errorf("task %s ran again without a stored error", x.ID)
}

// cancelResubmit runs one round of the raw baseline: JobTasks sleeps
// running, then the time to cancel them all, see them cancelled, submit
// JobTasks new ones and see them running. The new ones are cancelled after.
func cancelResubmit(ctx context.Context, clients []*client.Client, name string) (time.Duration, error) {
	c := clients[0]
	if err := submitAll(ctx, c, sleeps(name, JobTasks, api.SubmitRequest{})); err != nil {
		return 0, err
	}
	sts, err := awaitTasks(ctx, c, name, JobTasks, func(st *api.Status) bool { return st.State == "running" })
	if err != nil {
		return 0, err
	}
	began := time.Now()
	cancelAll := func(sts []*api.Status) error {
		return runAll(16, 0, len(sts), func(i int) error {
			_, err := clients[i%len(clients)].Cancel(ctx, sts[i].ID)
			return err
		})
	}
	if err := cancelAll(sts); err != nil {
		return 0, err
	}
	if _, err := awaitTasks(ctx, c, name, JobTasks, func(st *api.Status) bool { return st.State == "cancelled" }); err != nil {
		return 0, err
	}
	again := name + "r"
	if err := submitAll(ctx, c, sleeps(again, JobTasks, api.SubmitRequest{})); err != nil {
		return 0, err
	}
	sts, err = awaitTasks(ctx, c, again, JobTasks, func(st *api.Status) bool { return st.State == "running" })
	took := time.Since(began)
	if err != nil {
		return 0, err
	}
	return took, cancelAll(sts)
}

// submitAll submits reqs in one batch and returns the first refusal.
func submitAll(ctx context.Context, c *client.Client, reqs []api.SubmitRequest) error {
	res, err := c.SubmitBatch(ctx, reqs)
	if err != nil {
		return err
	}
	for _, r := range res {
		if err := r.Err(); err != nil {
			return err
		}
	}
	return nil
}

// awaitTasks polls the tasks labelled bench=name every JobPoll until there
// are n and ok holds for each, and returns them; ctx bounds the wait.
func awaitTasks(ctx context.Context, c *client.Client, name string, n int, ok func(*api.Status) bool) ([]*api.Status, error) {
	for {
		sts, err := c.ListAll(ctx, client.ListOptions{Labels: map[string]string{"bench": name}, Limit: 1000})
		if err == nil && len(sts) == n && !slices.ContainsFunc(sts, func(st *api.Status) bool { return !ok(st) }) {
			return sts, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("tasks of %s: %d listed (%v), not all as awaited: %w", name, len(sts), err, ctx.Err())
		case <-time.After(JobPoll):
		}
	}
}
