package app

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDevSurvivesKill9 is the crash test of the embedded node: 200 sleep
// tasks, kill -9 of `granary dev` once some have completed, restart on the
// same data directory. Every task completes; none that had completed runs
// again; the interrupted ones count one lost attempt and resume.
func TestDevSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	const n = 200
	node := testnode.Dev(t)
	c := node.Client()
	ctx := testutil.Context(t, 3*time.Minute)
	ids := make([]string, n)
	for i := range ids {
		ms := 100 + (i%50)*60 // 0.1s to 3.1s: some finish before the kill, most do not
		st, err := c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("sleep-%03d", i), Kind: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, ms))})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = st.ID
	}
	var before map[string]*api.Status
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		list, err := c.List(ctx, api.StateCompleted)
		if err != nil {
			return false, err.Error()
		}
		before = map[string]*api.Status{}
		for _, st := range list {
			before[st.ID] = st
		}
		return len(before) >= 20, fmt.Sprintf("%d of %d completed", len(before), n)
	})
	node.Kill()
	// Read the state as the crash left it: the completed set can only have
	// grown between the list above and the kill.
	node.Start()
	committed := map[string]*api.Status{}
	list, err := c.List(ctx, api.StateCompleted)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		committed[st.ID] = st
	}
	if len(committed) < len(before) || len(committed) == n {
		t.Fatalf("%d completed at the kill (%d seen before); want some but not all", len(committed), len(before))
	}
	finals := map[string]*api.Status{}
	for _, id := range ids {
		st, err := c.Wait(ctx, id, nil)
		if err != nil {
			t.Fatalf("waiting for %s: %v", id, err)
		}
		finals[id] = st
	}
	started := map[string]int{}
	for _, e := range node.LogEntries(2, "attempt started") {
		started[e["task"].(string)]++
	}
	interrupted := 0
	for _, id := range ids {
		st := finals[id]
		if st.State != api.StateCompleted {
			t.Errorf("%s ended %s (%s), want completed", id, st.State, st.Error)
			continue
		}
		if old, ok := committed[id]; ok {
			if started[id] != 0 || st.Epoch != old.Epoch || st.Attempts != old.Attempts || !st.FinishedAt.Equal(*old.FinishedAt) {
				t.Errorf("%s had completed before the kill but ran again: %d starts after restart, epoch %d->%d, attempts %d->%d",
					id, started[id], old.Epoch, st.Epoch, old.Attempts, st.Attempts)
			}
			continue
		}
		// Interrupted tasks were claimed twice (epoch 2, second attempt);
		// tasks still pending at the kill are claimed once, after restart.
		if started[id] != 1 || st.Epoch != uint64(st.Attempts) {
			t.Errorf("%s: %d attempts started after restart, epoch %d, %d attempts; want 1 start and epoch = attempts", id, started[id], st.Epoch, st.Attempts)
		}
		if st.Attempts == 2 {
			interrupted++
			if len(st.Errors) != 1 || st.Errors[0].Cause != "member_lost" {
				t.Errorf("%s: errors %+v, want one member_lost", id, st.Errors)
			}
		}
		var res struct {
			SleptMS int `json:"slept_ms"`
		}
		if err := json.Unmarshal(st.Result, &res); err != nil || res.SleptMS == 0 {
			t.Errorf("%s: result %s, want the sleep's result", id, st.Result)
		}
	}
	if interrupted == 0 {
		t.Fatal("no task was interrupted mid-attempt by the kill; the test proved nothing")
	}
	t.Logf("%d completed before the kill, %d interrupted and resumed, %d started fresh after restart", len(committed), interrupted, n-len(committed)-interrupted)
}

// TestDevGracefulStop: SIGTERM lets a running attempt finish and commit,
// then the node exits 0.
func TestDevGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t)
	c := node.Client()
	ctx := testutil.Context(t, time.Minute)
	st, err := c.Submit(ctx, api.SubmitRequest{Kind: "sleep", Payload: json.RawMessage(`{"ms":1500}`)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := c.Get(ctx, st.ID)
		return err == nil && got.State == api.StateRunning, "not running yet"
	})
	node.Stop(30 * time.Second)
	node.Start()
	got, err := c.Get(ctx, st.ID)
	if err != nil || got.State != api.StateCompleted || got.Attempts != 1 {
		t.Fatalf("after a graceful stop the task is %+v (%v); want completed in 1 attempt", got, err)
	}
}

func TestHealthz(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t)
	h, err := node.Client().Health(context.Background())
	if err != nil || h.Status != "ok" || h.Member != "dev" {
		t.Fatalf("healthz = %+v, %v", h, err)
	}
}

// TestSecondSignalCutsDrain: a second SIGTERM while the node drains (an
// operator's second Ctrl-C) stops it at once, not after --drain-timeout;
// the interrupted attempt runs again after a restart.
func TestSecondSignalCutsDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t, "--drain-timeout", "2m")
	c := node.Client()
	ctx := testutil.Context(t, 2*time.Minute)
	st, err := c.Submit(ctx, api.SubmitRequest{Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := c.Get(ctx, st.ID)
		return err == nil && got.State == api.StateRunning, "not running yet"
	})
	if err := syscall.Kill(node.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(node.LogEntries(1, "stopping")) > 0, "the node has not begun stopping"
	})
	node.Stop(15 * time.Second) // the second SIGTERM; fails the test past 15s (the drain would take 2m)
	node.Start()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := c.Get(ctx, st.ID)
		return err == nil && got.State == api.StateRunning && got.Attempts == 2,
			fmt.Sprintf("after a cut drain the task is %+v (%v); want running its second attempt", got, err)
	})
}
