package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/examples/kinds"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// The tests in this file need several members but not process isolation
// (nothing is killed or paused): the members run in this process
// (internal/testcluster), each its own node.New, against a real Consul.

// stockKinds is the stock binary's registry: the example kinds.
func stockKinds(t testing.TB) *actors.Registry {
	t.Helper()
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestJobFailsAcrossMembers: a one_for_all job's tasks are spread over three
// members; when one fails for good, the others are stopped wherever they run.
func TestJobFailsAcrossMembers(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), stockKinds(t), 3, nil)
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
	finals := testcluster.WaitAll(t, ctx, c, ids)
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
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), stockKinds(t), 3, nil)
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
	hang := testcluster.WaitAll(t, ctx, c, []string{"rj-hang"})["rj-hang"]
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
				len(st.Errors) != 1 || st.Errors[0].Cause != "job_terminate" || st.Errors[0].Member != owner {
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
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), stockKinds(t), 2, nil)
	ctx := testutil.Context(t, time.Minute)
	c, err := client.New(client.Config{Addr: nodes[0].HTTPAddr(), Route: true})
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
	if err := getJSON(ctx, "http://"+nodes[1].HTTPAddr()+"/v1/members?activations=false", &fast); err != nil || fast.Count != 2 || fast.Members[0].Activations != -1 {
		t.Fatalf("members?activations=false = %+v, %v; want both members without counts", fast, err)
	}
	if err := getJSON(ctx, "http://"+nodes[1].HTTPAddr()+"/v1/members?activations=maybe", &fast); !errors.Is(err, api.ErrInvalidArgument) {
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
