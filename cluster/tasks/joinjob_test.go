package tasks_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestJoinJob(t *testing.T) {
	job := &messages.Job{Id: "j", Strategy: "one_for_all", MaxRestarts: 2, RestartPeriod: durationpb.New(time.Hour)}
	cases := []struct {
		name                 string
		strategy             string
		maxRestarts          int32
		period               time.Duration
		namedStrat, namedBud bool
		wantErr              string
	}{
		{name: "names nothing: takes the job's", strategy: "one_for_one"},
		{name: "names the same", strategy: "one_for_all", maxRestarts: 2, period: time.Hour, namedStrat: true, namedBud: true},
		{name: "names the strategy only", strategy: "one_for_all", namedStrat: true},
		{name: "names another strategy", strategy: "one_for_one", namedStrat: true, wantErr: "uses strategy one_for_all, not one_for_one"},
		{name: "names another budget", strategy: "one_for_all", maxRestarts: 1, namedStrat: true, namedBud: true, wantErr: "restart budget of 2 in 1h0m0s, not 1 in the job's life"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := &messages.TaskSpec{Id: "t", JobId: "j", JobStrategy: c.strategy, JobMaxRestarts: c.maxRestarts}
			if c.period > 0 {
				spec.JobRestartPeriod = durationpb.New(c.period)
			}
			err := tasks.JoinJob(job, spec, c.namedStrat, c.namedBud)
			if c.wantErr != "" {
				if !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want invalid argument saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec.GetJobStrategy() != "one_for_all" || spec.GetJobMaxRestarts() != 2 || spec.GetJobRestartPeriod().AsDuration() != time.Hour {
				t.Fatalf("spec after joining: %v %d %v; want the job's one_for_all, 2 in 1h", spec.GetJobStrategy(), spec.GetJobMaxRestarts(), spec.GetJobRestartPeriod().AsDuration())
			}
		})
	}
}

// TestTaskJoinsAJobByItsID: after a job's first task set its strategy and
// budget, a task naming only the job id joins it and is stored with the
// job's strategy and budget (which its failure will apply).
func TestTaskJoinsAJobByItsID(t *testing.T) {
	h := newHarness(t, "")
	h.submitSub(tasks.Submission{ID: "first", Kind: "ok", JobID: "byid", JobStrategy: "one_for_all", JobMaxRestarts: 1, JobRestartPeriod: time.Hour})
	h.submitSub(tasks.Submission{ID: "second", Kind: "ok", JobID: "byid"})
	spec := h.get("second").GetSpec()
	if spec.GetJobStrategy() != "one_for_all" || spec.GetJobMaxRestarts() != 1 || spec.GetJobRestartPeriod().AsDuration() != time.Hour {
		t.Fatalf("the task naming only the job is stored with %s, %d in %s; want the job's one_for_all, 1 in 1h", spec.GetJobStrategy(), spec.GetJobMaxRestarts(), spec.GetJobRestartPeriod().AsDuration())
	}
	_, _, err := h.m.Submit(testutil.Context(t, 10*time.Second), tasks.Submission{ID: "third", Kind: "ok", JobID: "byid", JobStrategy: "one_for_one"})
	if !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), "uses strategy one_for_all, not one_for_one") {
		t.Fatalf("a task naming another strategy: %v", err)
	}
}
