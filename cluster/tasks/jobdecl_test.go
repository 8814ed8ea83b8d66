package tasks

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var declAt = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// TestBuildJobDefaults: an empty declaration is OTP's defaults written out
// (one_for_one, 5 s shutdown, auto_shutdown never), a child's restart type
// defaults to transient, and names are taken in any case.
func TestBuildJobDefaults(t *testing.T) {
	j, err := BuildJob(JobDeclaration{ID: "root"}, declAt)
	if err != nil {
		t.Fatal(err)
	}
	if j.GetStrategy() != "one_for_one" || j.GetShutdown().AsDuration() != api.DefaultShutdown || j.GetAutoShutdown() != "never" ||
		j.GetRestart() != "" || !j.GetDeclared() || !j.GetCreatedAt().AsTime().Equal(declAt) {
		t.Fatalf("defaults: %v", j)
	}
	zero := time.Duration(0)
	j, err = BuildJob(JobDeclaration{ID: "kid", Parent: "root", Strategy: "One-For-All", AutoShutdown: "ALL_SIGNIFICANT", Shutdown: &zero}, declAt)
	if err != nil {
		t.Fatal(err)
	}
	if j.GetStrategy() != "one_for_all" || j.GetAutoShutdown() != "all_significant" || j.GetRestart() != "transient" || j.GetShutdown().AsDuration() != 0 {
		t.Fatalf("child: %v", j)
	}
}

// TestBuildJobRefuses: each bad setting is api.ErrInvalidArgument naming it.
func TestBuildJobRefuses(t *testing.T) {
	neg, long := -time.Second, 2*api.MaxShutdown
	for _, c := range []struct {
		d    JobDeclaration
		says string
	}{
		{JobDeclaration{ID: "a b"}, "job id"},
		{JobDeclaration{ID: "j", Strategy: "all_for_one"}, "strategy"},
		{JobDeclaration{ID: "j", MaxRestarts: -1}, "max restarts"},
		{JobDeclaration{ID: "j", MaxRestarts: MaxJobRestarts + 1}, "max restarts"},
		{JobDeclaration{ID: "j", MaxRestarts: 1, RestartPeriod: -time.Second}, "restart period"},
		{JobDeclaration{ID: "j", Shutdown: &neg}, "shutdown"},
		{JobDeclaration{ID: "j", Shutdown: &long}, "shutdown"},
		{JobDeclaration{ID: "j", AutoShutdown: "sometimes"}, "auto_shutdown"},
		{JobDeclaration{ID: "j", Parent: "p", Restart: "forever"}, "restart type"},
		{JobDeclaration{ID: "j", Significant: true}, "needs a parent"},
		{JobDeclaration{ID: "j", Parent: "j"}, "own parent"},
		{JobDeclaration{ID: "j", Parent: "p", Stage: -1}, "stage"},
		{JobDeclaration{ID: "j", Parent: "bad id"}, "parent job id"},
	} {
		if _, err := BuildJob(c.d, declAt); !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v; want invalid argument saying %q", c.d, err, c.says)
		}
	}
}

// TestNodeState: a job's state in a tree from its record, its tasks and
// its child jobs.
func TestNodeState(t *testing.T) {
	declared := &messages.Job{Id: "j", Declared: true}
	kid := func(state string) *JobNode { return &JobNode{State: state} }
	oneTask := []store.Record{{}}
	for _, c := range []struct {
		name string
		n    JobNode
		want string
	}{
		{"declared, no child", JobNode{Job: declared}, api.StatePending},
		{"ended", JobNode{Job: &messages.Job{Failed: true}, Children: []*JobNode{kid(api.StateRunning)}}, api.StateFailed},
		{"a child job running", JobNode{Job: declared, Tasks: oneTask, Summary: JobSummary{State: api.StateCompleted}, Children: []*JobNode{kid(api.StateRunning)}}, api.StateRunning},
		{"tasks running", JobNode{Job: declared, Tasks: oneTask, Summary: JobSummary{State: api.StateRunning}, Children: []*JobNode{kid(api.StateCompleted)}}, api.StateRunning},
		{"a child job failed", JobNode{Job: declared, Children: []*JobNode{kid(api.StateCompleted), kid(api.StateFailed)}}, api.StateFailed},
		{"all completed", JobNode{Job: declared, Tasks: oneTask, Summary: JobSummary{State: api.StateCompleted}, Children: []*JobNode{kid(api.StateCompleted)}}, api.StateCompleted},
		{"one cancelled", JobNode{Job: declared, Children: []*JobNode{kid(api.StateCompleted), kid(api.StateCancelled)}}, api.StateCancelled},
		{"children past the bound", JobNode{Job: declared, ChildrenOmitted: 3}, api.StateRunning},
	} {
		if got := nodeState(&c.n); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestRestartsWithin: the budget used counts the restarts inside the
// period, or all of them over the job's life.
func TestRestartsWithin(t *testing.T) {
	rs := []*messages.JobRestart{{At: timestamppb.New(declAt.Add(-2 * time.Minute))}, {At: timestamppb.New(declAt.Add(-30 * time.Second))}}
	if n := restartsWithin(rs, time.Minute, declAt); n != 1 {
		t.Errorf("within a minute: %d, want 1", n)
	}
	if n := restartsWithin(rs, 0, declAt); n != 2 {
		t.Errorf("over the job's life: %d, want 2", n)
	}
}

// TestDeclarationDiff names each setting that differs.
func TestDeclarationDiff(t *testing.T) {
	a, _ := BuildJob(JobDeclaration{ID: "j", Parent: "p", Stage: 1}, declAt)
	b, _ := BuildJob(JobDeclaration{ID: "j", Parent: "q", Stage: 2, Significant: true, Restart: "temporary", MaxRestarts: 1}, declAt)
	got := strings.Join(declarationDiff(a, b), "; ")
	for _, want := range []string{"max_restarts: 0, not 1", "parent: p, not q", "stage: 1, not 2", "restart: transient, not temporary", "significant: false, not true"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff %q lacks %q", got, want)
		}
	}
	if d := declarationDiff(a, a); len(d) != 0 {
		t.Errorf("a declaration differs from itself: %v", d)
	}
}
