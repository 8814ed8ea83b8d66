package tasks

import (
	"strings"
	"testing"

	"github.com/granary-rt/granary/messages"
)

func TestJoinVerdict(t *testing.T) {
	job := func(id, phase, end string) *messages.Job {
		return &messages.Job{Id: id, Run: &messages.JobRun{Phase: phase, End: end, Cause: "why"}}
	}
	for _, c := range []struct {
		name  string
		chain []*messages.Job
		want  gateVerdict
		in    string
	}{
		{"no record yet", nil, gatePass, ""},
		{"a job never supervised", []*messages.Job{{Id: "j"}}, gatePass, ""},
		{"running", []*messages.Job{job("j", "running", "")}, gatePass, ""},
		{"restarting", []*messages.Job{job("j", "restarting", "")}, gatePass, ""},
		{"completed: it runs again", []*messages.Job{job("j", "done", "completed")}, gatePass, ""},
		{"shutting down: wait", []*messages.Job{job("j", "shutting_down", "stopped")}, gateWait, ""},
		{"stopped", []*messages.Job{job("j", "done", "stopped")}, gateRefuse, "job j had stopped when this task joined it: why"},
		{"failed", []*messages.Job{job("j", "done", "failed")}, gateRefuse, "job j had failed"},
		{"an ancestor shutting down", []*messages.Job{job("j", "done", "completed"), job("p", "shutting_down", "failed")}, gateWait, ""},
		{"an ancestor stopped", []*messages.Job{job("j", "running", ""), job("p", "running", ""), job("root", "done", "stopped")}, gateRefuse, "job root had stopped"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, why := joinVerdict(c.chain)
			if got != c.want || !strings.Contains(why, c.in) {
				t.Fatalf("verdict %d (%q), want %d (%q)", got, why, c.want, c.in)
			}
		})
	}
}
