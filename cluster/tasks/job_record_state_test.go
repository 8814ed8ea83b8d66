package tasks

import (
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/messages"
)

// TestRecordState: a job list names each job's state as job status does;
// it showed "ok" for a running job and a completed one alike.
func TestRecordState(t *testing.T) {
	child := []*messages.JobChildRun{{Id: "t1", Status: "running"}}
	cases := []struct {
		name string
		job  *messages.Job
		want string
	}{
		{"no record", nil, api.StatePending},
		{"declared, no child", &messages.Job{Id: "j"}, api.StatePending},
		{"running", &messages.Job{Id: "j", Run: &messages.JobRun{Phase: "running", Children: child}}, api.StateRunning},
		{"restarting", &messages.Job{Id: "j", Run: &messages.JobRun{Phase: "restarting", Children: child}}, api.StateRunning},
		{"completed", &messages.Job{Id: "j", Run: &messages.JobRun{Phase: "done", End: "completed", Children: child}}, api.StateCompleted},
		{"stopped", &messages.Job{Id: "j", Run: &messages.JobRun{Phase: "done", End: "stopped", Children: child}}, api.StateCancelled},
		{"failed", &messages.Job{Id: "j", Failed: true, Cause: "budget spent"}, api.StateFailed},
	}
	for _, c := range cases {
		if got := RecordState(c.job); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
