package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestSchedulesOnDev: the CLI declares a schedule of every second on
// `granary dev`, lists it with its next run, sees its runs, pauses,
// resumes and deletes it; `submit --after` stores a task that starts
// later.
func TestSchedulesOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a granary process")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP
	must := func(args ...string) result {
		t.Helper()
		r := cli(t, addr, args...)
		if r.code != exitOK {
			t.Fatalf("granary %v: exit %d: %s %s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	r := must("schedule", "create", "tick", "--cron", "@every 1s", "--overlap", "allow", "--kind", "echo", "--payload", `{"n":1}`, "--label", "team=a")
	if !strings.Contains(r.stdout, `schedule tick: "@every 1s" in UTC, overlap allow, active`) || !strings.Contains(r.stdout, "next run: 20") {
		t.Fatalf("schedule create said %q", r.stdout)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		r := must("tasks", "--label", "granary.schedule=tick", "--json")
		var l api.TaskList
		_ = json.Unmarshal([]byte(r.stdout), &l)
		return len(l.Tasks) >= 2, r.stdout
	})
	r = must("schedules")
	if !strings.Contains(r.stdout, "tick") || !strings.Contains(r.stdout, "allow") || !strings.Contains(r.stdout, "1 schedules") {
		t.Fatalf("schedules said %q", r.stdout)
	}
	var l api.ScheduleList
	if err := json.Unmarshal([]byte(must("schedules", "--json").stdout), &l); err != nil || l.Count != 1 || l.Schedules[0].Task.Labels["team"] != "a" {
		t.Fatalf("schedules --json: %+v, %v", l, err)
	}
	if r := must("schedule", "pause", "tick"); !strings.Contains(r.stdout, "paused") || !strings.Contains(r.stdout, "next run: -") {
		t.Fatalf("schedule pause said %q", r.stdout)
	}
	must("schedule", "resume", "tick")
	must("schedule", "delete", "tick")
	if r := cli(t, addr, "schedule", "status", "tick"); r.code == exitOK || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("status after delete: exit %d: %s", r.code, r.stderr)
	}

	id := strings.TrimSpace(must("submit", "--kind", "echo", "--payload", `{"n":2}`, "--after", "2s").stdout)
	r = must("status", id)
	if !strings.Contains(r.stdout, "pending") || !strings.Contains(r.stdout, "scheduled until") {
		t.Fatalf("status of a task that starts later said %q", r.stdout)
	}
	must("wait", id, "--timeout", "30s")
}
