package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDurableTasksSurviveKill: 1,000 tasks (90% flaky, 10% two-second
// sleeps so that attempts are in flight) over three nodes, kill -9 of one
// mid-run. Every task ends completed or failed as its policy says, never
// committed twice (at most one "task finished" commit across all node logs;
// exactly one unless the killed member committed it just before dying),
// with attempt counts matching the error history.
func TestDurableTasksSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	const n = 1000
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 4*time.Minute)
	policy := &api.Policy{MaxAttempts: api.Ptr(4), BackoffInitial: api.Ptr(api.Duration(300 * time.Millisecond)), BackoffMax: api.Ptr(api.Duration(time.Second))}
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range ids {
		ids[i] = fmt.Sprintf("f-%04d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			req := api.SubmitRequest{ID: ids[i], Kind: "flaky", Policy: policy,
				Payload: json.RawMessage(fmt.Sprintf(`{"fail_rate":0.4,"panic_rate":0.1,"seed":%d}`, i))}
			if i%10 == 0 {
				req.Kind, req.Payload = "sleep", json.RawMessage(`{"ms":2000}`)
			}
			_, err := nodes[i%3].Client().Submit(ctx, req)
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := nodes[0].Client()
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		done, err := c.List(ctx, api.StateCompleted, api.StateFailed)
		return err == nil && len(done) >= n/5, fmt.Sprintf("%d finished before the kill (%v)", len(done), err)
	})
	victim := nodes[2]
	victim.Kill()
	finals := waitAll(t, ctx, c, ids)
	completed, failed, lost := 0, 0, 0
	for _, id := range ids {
		st := finals[id]
		for _, e := range st.Errors {
			if e.Cause == "member_lost" {
				lost++
			}
		}
		switch st.State {
		case api.StateCompleted:
			completed++
			if st.Attempts != len(st.Errors)+1 || len(st.Result) == 0 {
				t.Errorf("%s completed after %d attempts with %d errors, result %s", id, st.Attempts, len(st.Errors), st.Result)
			}
		case api.StateFailed:
			failed++
			if st.Attempts != len(st.Errors) || st.Attempts != 4 {
				t.Errorf("%s failed after %d attempts with %d errors (%s), want 4 and 4", id, st.Attempts, len(st.Errors), st.Error)
			}
		default:
			t.Errorf("%s ended %s", id, st.State)
		}
	}
	commits := map[string]int{}
	for _, nd := range nodes {
		for _, e := range nd.LogEntries(0, "task finished") {
			commits[e["task"].(string)]++
		}
	}
	for _, id := range ids {
		switch n := commits[id]; {
		case n > 1:
			t.Errorf("%s committed %d times, want exactly once", id, n)
		case n == 0 && finals[id].Owner != victim.ID:
			t.Errorf("%s was committed by %s, which logged no commit", id, finals[id].Owner)
		}
	}
	if lost == 0 {
		t.Error("no attempt was lost with the killed member: the kill proved nothing")
	}
	t.Logf("%d completed, %d failed for good, %d attempts lost with the killed member", completed, failed, lost)
}

func waitAll(t *testing.T, ctx context.Context, c *client.Client, ids []string) map[string]*api.Status {
	t.Helper()
	var mu sync.Mutex
	out := map[string]*api.Status{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := c.Wait(ctx, id, nil)
			if err != nil {
				t.Errorf("waiting for %s: %v", id, err)
				return
			}
			mu.Lock()
			out[id] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(out) != len(ids) {
		t.Fatalf("%d of %d tasks did not finish in time", len(ids)-len(out), len(ids))
	}
	return out
}

// TestTaskBadInputAtEveryEntryPoint: malformed submissions through a
// cluster node's HTTP API and Go client get a clear error and store nothing.
func TestTaskBadInputAtEveryEntryPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 1, agent.HTTPAddr(), nil)
	c := nodes[0].Client()
	ctx := testutil.Context(t, time.Minute)
	for _, req := range []api.SubmitRequest{
		{Kind: "nope"},
		{Kind: "sleep", Payload: json.RawMessage(`{"ms":"x"}`)},
		{Kind: "sleep", Payload: json.RawMessage(`{"ms":1}`), Policy: &api.Policy{MaxAttempts: api.Ptr(0)}},
	} {
		if _, err := c.Submit(ctx, req); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("Submit(%+v): %v, want ErrInvalidArgument", req, err)
		}
	}
	all, err := c.List(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("%d tasks stored after bad input (%v)", len(all), err)
	}
}

// TestPartitionedOwnerNeverCommits cuts the owner of running tasks off from
// Consul: it fences and commits nothing more; a survivor adopts each task
// with a higher epoch and commits it.
func TestPartitionedOwnerNeverCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	n1, _, cut, proxy := partitionableCluster(t)
	ctx := testutil.Context(t, 2*time.Minute)
	// Submit sleeps until a few are owned (and running) on the node to cut.
	var theirs []string
	for i := 0; len(theirs) < 5 && i < 200; i++ {
		st, err := n1.Client().Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("s-%d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":3000}`)})
		if err != nil {
			t.Fatal(err)
		}
		if st.Owner == cut.ID {
			theirs = append(theirs, st.ID)
		}
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		for _, id := range theirs {
			st, err := n1.Client().Get(ctx, id)
			if err != nil || st.State != api.StateRunning || st.Owner != cut.ID {
				return false, fmt.Sprintf("%s: %+v %v", id, st, err)
			}
		}
		return true, ""
	})
	proxy.Sever()
	finals := waitAll(t, ctx, n1.Client(), theirs)
	for _, id := range theirs {
		st := finals[id]
		if st.State != api.StateCompleted || st.Owner == cut.ID || st.Epoch < 2 {
			t.Errorf("%s: %s by %s at epoch %d; want completed by a survivor with a higher epoch", id, st.State, st.Owner, st.Epoch)
		}
		if len(st.Errors) == 0 || st.Errors[0].Cause != "member_lost" {
			t.Errorf("%s: errors %+v; want the cut-off attempt counted as member_lost", id, st.Errors)
		}
	}
	for _, e := range cut.LogEntries(0, "task finished") {
		for _, id := range theirs {
			if e["task"] == id {
				t.Errorf("the cut-off node committed %s", id)
			}
		}
	}
}

// TestTasksSurviveConsulRestart restarts the disk-backed Consul server in
// the middle of a run: nothing is lost and the nodes recover by themselves.
func TestTasksSurviveConsulRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 3*time.Minute)
	var ids []string
	for i := 0; i < 200; i++ {
		st, err := nodes[i%3].Client().Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("r-%d", i), Kind: "sleep",
			Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, 200+(i%20)*150))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.ID)
	}
	agent.Restart(t)
	finals := waitAll(t, ctx, nodes[0].Client(), ids)
	for _, id := range ids {
		if st := finals[id]; st.State != api.StateCompleted {
			t.Errorf("%s ended %s: %s", id, st.State, st.Error)
		}
	}
	for _, nd := range nodes {
		if _, err := nd.Client().Health(ctx); err != nil {
			t.Errorf("%s is down after the Consul restart: %v", nd.ID, err)
		}
	}
}

// TestJobFailsAcrossMembers: a one_for_all job's tasks are spread over three
// members; when one fails for good, the others are stopped wherever they run.
func TestJobFailsAcrossMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	c := nodes[0].Client()
	ctx := testutil.Context(t, 2*time.Minute)
	owners := map[string]bool{}
	var ids []string
	for i := 0; i < 9; i++ {
		st, err := c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("job-%d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`), JobID: "pipeline", JobStrategy: "one_for_all"})
		if err != nil {
			t.Fatal(err)
		}
		owners[st.Owner] = true
		ids = append(ids, st.ID)
	}
	if len(owners) < 2 {
		t.Fatalf("the job's tasks all landed on %v; the test needs several members", owners)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		running, err := c.List(ctx, api.StateRunning)
		return err == nil && len(running) == len(ids), fmt.Sprintf("%d of %d running (%v)", len(running), len(ids), err)
	})
	_, err := c.Submit(ctx, api.SubmitRequest{ID: "job-fail", Kind: "flaky", Payload: json.RawMessage(`{"fail_rate":1}`), JobID: "pipeline", JobStrategy: "one_for_all", Policy: &api.Policy{MaxAttempts: api.Ptr(1)}})
	if err != nil {
		t.Fatal(err)
	}
	finals := waitAll(t, ctx, c, ids)
	for _, id := range ids {
		if st := finals[id]; st.State != api.StateCancelled || !strings.Contains(st.Error, "job pipeline failed") {
			t.Errorf("%s on %s: %s %q; want cancelled by the job's failure", id, st.Owner, st.State, st.Error)
		}
	}
	job, err := nodes[1].Client().Job(ctx, "pipeline")
	if err != nil || job.State != api.StateFailed || !strings.Contains(job.Error, "job-fail failed") {
		t.Fatalf("job status %+v, %v", job, err)
	}
}

// TestJobRestartsAcrossMembers: a task failing for good restarts its
// one_for_all job; the job's other tasks are restarted on the members that
// own them (the restart is forwarded), keep their owner, and run again with
// the interrupted attempt recorded as job_restart.
func TestJobRestartsAcrossMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	c := nodes[0].Client()
	ctx := testutil.Context(t, 2*time.Minute)
	owners := map[string]string{}
	for i := 0; i < 6; i++ {
		st, err := c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("rj-%d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`),
			JobID: "restarting", JobStrategy: "one_for_all", JobMaxRestarts: 1})
		if err != nil {
			t.Fatal(err)
		}
		owners[st.ID] = st.Owner
	}
	if distinct := countDistinct(owners); distinct < 2 {
		t.Fatalf("the job's tasks all landed on one member (%v); the test needs several", owners)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		running, err := c.List(ctx, api.StateRunning)
		return err == nil && len(running) == len(owners), fmt.Sprintf("%d of %d running (%v)", len(running), len(owners), err)
	})
	// Its only attempt hangs: the task fails for good, and the job restarts.
	// The job gives it a fresh budget, and attempt 2 succeeds.
	timeout := api.Duration(300 * time.Millisecond)
	_, err := c.Submit(ctx, api.SubmitRequest{ID: "rj-hang", Kind: "hang", Payload: json.RawMessage(`{"succeed_on_attempt":2}`),
		JobID: "restarting", JobStrategy: "one_for_all", JobMaxRestarts: 1, Policy: &api.Policy{MaxAttempts: api.Ptr(1), AttemptTimeout: &timeout}})
	if err != nil {
		t.Fatal(err)
	}
	hang := waitAll(t, ctx, c, []string{"rj-hang"})["rj-hang"]
	if hang.State != api.StateCompleted || hang.Attempts != 2 || hang.JobRestarts != 1 || len(hang.Errors) != 1 || hang.Errors[0].Cause != "attempt_timeout" {
		t.Fatalf("rj-hang: %s after %d attempts, %d job restarts, errors %+v; want completed on attempt 2 after one job restart", hang.State, hang.Attempts, hang.JobRestarts, hang.Errors)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		for id, owner := range owners {
			st, err := nodes[2].Client().Get(ctx, id)
			if err != nil {
				return false, err.Error()
			}
			if st.State != api.StateRunning || st.Attempts != 2 || st.JobRestarts != 1 || st.Owner != owner ||
				len(st.Errors) != 1 || st.Errors[0].Cause != "job_restart" || st.Errors[0].Member != owner {
				return false, fmt.Sprintf("%s: %s attempt %d, %d job restarts, owner %s (was %s), errors %+v", id, st.State, st.Attempts, st.JobRestarts, st.Owner, owner, st.Errors)
			}
		}
		return true, ""
	})
	job, err := nodes[1].Client().Job(ctx, "restarting")
	if err != nil || job.State != api.StateRunning || job.Restarts != 1 || job.MaxRestarts != 1 || len(job.RestartLog) != 1 || job.RestartLog[0].Task != "rj-hang" {
		t.Fatalf("job status %+v, %v; want running after one restart caused by rj-hang", job, err)
	}
}

func countDistinct(m map[string]string) int {
	seen := map[string]bool{}
	for _, v := range m {
		seen[v] = true
	}
	return len(seen)
}

// TestRoutedSubmits: a client that routes sends each submit to its owner,
// learned from GET /v1/members?activations=false; every task completes on
// the member placement picks, exactly once.
func TestRoutedSubmits(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 2, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, time.Minute)
	c, err := client.New(client.Config{Addr: nodes[0].HTTP, Route: true})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Members(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("members = %v, %v", list, err)
	}
	var members []placement.Member
	for _, m := range list {
		members = append(members, placement.Member{ID: m.ID, Kinds: m.Kinds})
	}
	owners := map[string]int{}
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("routed-%d", i)
		st, err := c.SubmitAndWait(ctx, api.SubmitRequest{ID: id, Kind: "echo", Payload: json.RawMessage(`{"i":1}`)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := placement.TaskOwner(members, "echo", id)
		if st.State != api.StateCompleted || st.Owner != want || st.Attempts != 1 || st.Epoch != 1 {
			t.Fatalf("%s ended %s on %s after %d attempts at epoch %d; want completed on %s by attempt 1 at epoch 1", id, st.State, st.Owner, st.Attempts, st.Epoch, want)
		}
		owners[st.Owner]++
	}
	if len(owners) != 2 {
		t.Fatalf("owners %v: placement used one member only, the test proves little", owners)
	}
	// The member list for routers skips activation counts; a bad value is
	// refused.
	var fast api.MemberList
	if err := getJSON(ctx, "http://"+nodes[1].HTTP+"/v1/members?activations=false", &fast); err != nil || fast.Count != 2 || fast.Members[0].Activations != -1 {
		t.Fatalf("members?activations=false = %+v, %v; want both members without counts", fast, err)
	}
	if err := getJSON(ctx, "http://"+nodes[1].HTTP+"/v1/members?activations=maybe", &fast); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("members?activations=maybe: %v, want invalid argument", err)
	}
}

// getJSON GETs u and decodes its JSON answer, or the API error it carries.
func getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		return api.FromWire(resp.StatusCode, eb)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
