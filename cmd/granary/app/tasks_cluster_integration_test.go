package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDurableTasksSurviveKill: 1,000 tasks (90% flaky, 10% two-second
// sleeps so that attempts are in flight) over three nodes, kill -9 of one
// mid-run, once it verifiably runs an attempt (killWhileRunning: the kill
// is sent only while a canary task is seen running on it, so that an
// attempt is lost with it however loaded the machine). Every task ends
// completed or failed as its policy says, never committed twice (at most
// one "task finished" commit across all node logs; exactly one unless the
// killed member committed it just before dying), with attempt counts
// matching the error history.
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
	canary := killWhileRunning(t, ctx, victim, policy)
	ids = append(ids, canary)
	finals := testcluster.WaitAll(t, ctx, c, ids)
	if !slices.ContainsFunc(finals[canary].Errors, func(e api.AttemptError) bool { return e.Cause == "member_lost" }) {
		t.Errorf("%s was running on %s when it was killed, yet no attempt of it was lost: %+v", canary, victim.ID, finals[canary].Errors)
	}
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

// canarySleep is how long a canary's attempt sleeps, and canaryMargin how
// much of it must be left when the kill is sent: the kill then lands while
// the attempt runs however slow the machine is at answering the poll.
const (
	canarySleep  = 10 * time.Second
	canaryMargin = 5 * time.Second
)

// killWhileRunning kills victim once it verifiably runs an attempt: it
// submits a sleep task (a canary) to victim, polls until the store shows it
// running there with at least canaryMargin of its sleep left, and sends
// SIGKILL; a canary seen too late (a loaded machine) is replaced by another.
// It returns the canary that was running at the kill, which must end with
// an attempt lost with its member.
func killWhileRunning(t *testing.T, ctx context.Context, victim *testnode.Node, policy *api.Policy) string {
	t.Helper()
	vc := victim.Client()
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		id := fmt.Sprintf("canary-%d", i)
		_, err := vc.Submit(ctx, api.SubmitRequest{ID: id, Kind: "sleep", Policy: policy,
			Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, canarySleep.Milliseconds()))})
		if err != nil {
			t.Fatalf("submitting %s to %s: %v", id, victim.ID, err)
		}
		for time.Now().Before(deadline) {
			st, err := vc.Get(ctx, id)
			if err != nil || st.State == api.StatePending || st.StartedAt == nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if st.State == api.StateRunning && st.Owner == victim.ID && time.Since(*st.StartedAt) < canarySleep-canaryMargin {
				victim.Kill()
				t.Logf("killed %s while %s had run %v of its %v", victim.ID, id, time.Since(*st.StartedAt).Round(time.Millisecond), canarySleep)
				return id
			}
			// Owned elsewhere, ended, or seen too late: it is an ordinary
			// task now (WaitAll below does not wait for it); try another.
			t.Logf("%s: %s owned by %s, started %v ago; submitting another canary", id, st.State, st.Owner, time.Since(*st.StartedAt))
			break
		}
	}
	t.Fatalf("%s never ran a canary with %v of its sleep left within 2m", victim.ID, canaryMargin)
	return ""
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
	finals := testcluster.WaitAll(t, ctx, n1.Client(), theirs)
	for _, id := range theirs {
		st := finals[id]
		if st.State != api.StateCompleted || st.Owner == cut.ID || st.Epoch < 2 {
			t.Errorf("%s: %s by %s at epoch %d; want completed by a survivor with a higher epoch", id, st.State, st.Owner, st.Epoch)
		}
		if len(st.Errors) == 0 || st.Errors[0].Cause != "member_lost" || st.Errors[0].Member != cut.ID || st.Errors[0].StartedAt == nil {
			t.Errorf("%s: errors %+v; want the cut-off attempt counted as member_lost, on %s, with its start", id, st.Errors, cut.ID)
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
	finals := testcluster.WaitAll(t, ctx, nodes[0].Client(), ids)
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
