package node_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/supervisor"
)

// TestMemberReportsAbandonedAttempts: GET /v1/member counts the attempts
// whose handler ignored its context and outlived them, by kind, with the
// caps; the task says in its status why its next attempt waits; once the
// handlers return, the count is 0 and the task completes.
func TestMemberReportsAbandonedAttempts(t *testing.T) {
	release := make(chan struct{})
	cfg := embedded(t)
	hang := actors.MustTask("hang", func(ctx actors.TaskContext, _ struct{}) (int, error) {
		<-release // ignores ctx on purpose
		return ctx.Attempt(), nil
	}, actors.WithSettings(actors.Settings{
		MaxAttempts:    1000,
		Backoff:        supervisor.Backoff{Initial: time.Millisecond, Multiplier: 1, Max: time.Millisecond},
		AttemptTimeout: time.Millisecond,
	}))
	if err := cfg.Registry.RegisterTask(hang); err != nil {
		t.Fatal(err)
	}
	cfg.AbandonedAttempts = tasks.AbandonLimits{PerKind: 3, PerMember: 5}
	n := start(t, cfg)
	c := n.Client()
	ctx := testutil.Context(t, 30*time.Second)
	if _, err := c.Submit(ctx, api.SubmitRequest{ID: "h1", Kind: "hang"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		st, err := c.Get(ctx, "h1")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(st.Waiting, "kind hang has 3 abandoned attempts on member dev (cap 3)"), fmt.Sprintf("task h1: %s, %d attempts, waiting %q", st.State, st.Attempts, st.Waiting)
	})
	rep, err := c.MemberReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Abandoned != 3 || rep.AbandonedByKind["hang"] != 3 || rep.AbandonedCaps != (api.AbandonedCaps{PerKind: 3, PerMember: 5}) {
		t.Errorf("member report: %d abandoned, by kind %v, caps %+v; want 3 of hang, caps 3 and 5", rep.Abandoned, rep.AbandonedByKind, rep.AbandonedCaps)
	}
	close(release)
	st, err := c.Wait(ctx, "h1", nil)
	if err != nil || st.State != "completed" || st.Waiting != "" {
		t.Fatalf("after the release: %+v, %v; want completed", st, err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		rep, err := c.MemberReport(ctx)
		if err != nil {
			return false, err.Error()
		}
		return rep.Abandoned == 0 && len(rep.AbandonedByKind) == 0, fmt.Sprintf("%d abandoned (%v) once the handlers returned", rep.Abandoned, rep.AbandonedByKind)
	})
}
