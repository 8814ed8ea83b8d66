package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestSigtermDrainsClusterMember: three members, sleep tasks of 4s running
// on each, SIGTERM of one (drain_timeout 20s). The member exits within its
// drain_timeout, once its attempts have finished; each of its tasks
// completes once, in one attempt, committed by the drained member, with
// no attempt anywhere else (issue 19: it exited in 2.3s, its health check
// failed, it fenced itself, and survivors ran its tasks again as
// member_lost). Tasks submitted while it drains are placed on the others
// and finish before it exits.
func TestSigtermDrainsClusterMember(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	const drain, sleep = 20 * time.Second, 4 * time.Second
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	nodes := startCluster(t, 3, agent.HTTPAddr(), map[int][]string{2: {"--drain-timeout", drain.String()}})
	victim, c := nodes[2], nodes[0].Client()
	ctx := testutil.Context(t, 3*time.Minute)
	ids := submitSleeps(t, ctx, victim.Client(), "drain", 24, sleep)
	mine := runningOn(t, ctx, c, ids, victim.ID)

	start := time.Now()
	exited := victim.Terminate()
	// New work while it drains goes to the others: these finish at once,
	// not when the victim has left and its pending tasks are adopted.
	testutil.Eventually(t, drain, func() (bool, string) {
		ms, err := c.Members(ctx)
		for _, m := range ms {
			if m.ID == victim.ID && m.Draining {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s not seen draining: %+v (%v)", victim.ID, ms, err)
	})
	late := submitSleeps(t, ctx, c, "late", 9, 100*time.Millisecond)
	for _, id := range late {
		st, err := c.Wait(ctx, id, nil)
		if err != nil || st.State != api.StateCompleted || st.Owner == victim.ID {
			t.Errorf("task %s submitted during the drain: %+v (%v); want completed on a member not draining", id, st, err)
		}
		select {
		case <-exited:
			t.Errorf("task %s submitted during the drain finished only after the victim exited", id)
		default:
		}
	}
	select {
	case <-exited:
	case <-time.After(drain + 5*time.Second):
		t.Fatalf("victim did not exit within %s of SIGTERM", drain+5*time.Second)
	}
	took := time.Since(start)
	t.Logf("victim drained %d running tasks and exited %s after SIGTERM", len(mine), took.Round(time.Millisecond))
	if code := victim.ExitCode(); code != 0 || took > drain {
		t.Errorf("victim exited with %d after %s; want 0 within drain_timeout %s", code, took, drain)
	}
	if took > sleep+5*time.Second {
		t.Errorf("victim exited %s after SIGTERM, though its attempts end within %s: the drain waited for nothing", took, sleep)
	}

	finals := testcluster.WaitAll(t, ctx, c, ids)
	starts, commits := attemptLog(t, nodes)
	for _, id := range ids {
		st := finals[id]
		if st.State != api.StateCompleted || st.Attempts != 1 || len(st.Errors) != 0 {
			t.Errorf("task %s: %s after %d attempts, errors %+v; want completed in one attempt", id, st.State, st.Attempts, st.Errors)
		}
		if len(starts[id]) != 1 || len(commits[id]) != 1 || starts[id][0] != commits[id][0] {
			t.Errorf("task %s: attempts started on %v, committed by %v; want one attempt, committed where it ran", id, starts[id], commits[id])
		}
	}
	for _, id := range mine {
		if commits[id] == nil || commits[id][0] != victim.ID || finals[id].Owner != victim.ID {
			t.Errorf("task %s ran on the drained member but was committed by %v (owner %s)", id, commits[id], finals[id].Owner)
		}
	}
}

// TestSigtermHandsOffWhenDrainTimeoutShort: with drain_timeout (1.5s)
// shorter than its tasks (8s), a SIGTERMed member exits within it, and a
// survivor takes its tasks at once (not after a lease expiry) and runs
// each to completion once: the abandoned attempt commits nothing.
func TestSigtermHandsOffWhenDrainTimeoutShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	const drain = 1500 * time.Millisecond
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	nodes := startCluster(t, 2, agent.HTTPAddr(), map[int][]string{1: {"--drain-timeout", drain.String()}})
	victim, survivor, c := nodes[1], nodes[0], nodes[0].Client()
	ctx := testutil.Context(t, 3*time.Minute)
	ids := submitSleeps(t, ctx, c, "handoff", 10, 8*time.Second)
	mine := runningOn(t, ctx, c, ids, victim.ID)

	start := time.Now()
	exited := victim.Terminate()
	select {
	case <-exited:
	case <-time.After(drain + 5*time.Second):
		t.Fatalf("victim did not exit within %s of SIGTERM", drain+5*time.Second)
	}
	took := time.Since(start)
	exitAt := time.Now()
	t.Logf("victim handed off %d running tasks and exited %s after SIGTERM", len(mine), took.Round(time.Millisecond))
	if code := victim.ExitCode(); code != 0 || took > drain+500*time.Millisecond {
		t.Errorf("victim exited with %d after %s; want 0 within drain_timeout %s (and process exit)", code, took, drain)
	}

	finals := testcluster.WaitAll(t, ctx, c, ids)
	starts, commits := attemptLog(t, nodes)
	resumed := startTimes(t, survivor)
	for _, id := range mine {
		st := finals[id]
		if st.State != api.StateCompleted || st.Attempts != 2 || st.Owner != survivor.ID {
			t.Errorf("handed-off task %s: %s after %d attempts on %s; want completed by %s in its second attempt", id, st.State, st.Attempts, st.Owner, survivor.ID)
		}
		if len(commits[id]) != 1 || commits[id][0] != survivor.ID {
			t.Errorf("handed-off task %s committed by %v; want once, by %s", id, commits[id], survivor.ID)
		}
		if got := starts[id]; len(got) != 2 || !slices.Contains(got, victim.ID) || !slices.Contains(got, survivor.ID) {
			t.Errorf("handed-off task %s: attempts started on %v; want one on %s, then one on %s", id, got, victim.ID, survivor.ID)
		}
		// Prompt: the survivor starts it within a few seconds of the
		// victim's exit, not after a session or lease expiry.
		if at, ok := resumed[id]; !ok || at.Sub(exitAt) > 3*time.Second {
			t.Errorf("handed-off task %s resumed on the survivor at %v, %v after the victim exited", id, at, at.Sub(exitAt))
		}
	}
}

// submitSleeps submits n sleep tasks of d through c, ids prefix-0..n-1.
func submitSleeps(t *testing.T, ctx context.Context, c *client.Client, prefix string, n int, d time.Duration) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%02d", prefix, i)
		req := api.SubmitRequest{ID: ids[i], Kind: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, d.Milliseconds()))}
		if _, err := c.Submit(ctx, req); err != nil {
			t.Fatalf("submitting %s: %v", ids[i], err)
		}
	}
	return ids
}

// runningOn waits until every task of ids runs, and returns those that run
// on member (failing the test if none does).
func runningOn(t *testing.T, ctx context.Context, c *client.Client, ids []string, member string) []string {
	t.Helper()
	var mine []string
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		mine = mine[:0]
		for _, id := range ids {
			st, err := c.Get(ctx, id)
			if err != nil || st.State != api.StateRunning {
				return false, fmt.Sprintf("task %s: %+v (%v)", id, st, err)
			}
			if st.Owner == member {
				mine = append(mine, id)
			}
		}
		return len(mine) > 0, fmt.Sprintf("no task runs on %s", member)
	})
	return mine
}

// attemptLog reads the members' logs: for each task, the members that
// started an attempt of it, and those that committed its end, in order.
func attemptLog(t *testing.T, nodes []*testnode.Node) (starts, commits map[string][]string) {
	t.Helper()
	starts, commits = map[string][]string{}, map[string][]string{}
	for _, nd := range nodes {
		for _, e := range nd.LogEntries(0, "attempt started") {
			id, _ := e["task"].(string)
			starts[id] = append(starts[id], nd.ID)
		}
		for _, e := range nd.LogEntries(0, "task finished") {
			id, _ := e["task"].(string)
			commits[id] = append(commits[id], nd.ID)
		}
	}
	return starts, commits
}

// startTimes is when nd last started an attempt of each task, from its log.
func startTimes(t *testing.T, nd *testnode.Node) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, e := range nd.LogEntries(0, "attempt started") {
		id, _ := e["task"].(string)
		s, _ := e["time"].(string)
		if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
			out[id] = at
		}
	}
	return out
}
