package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
)

// TestScheduleRoutes: a schedule is declared (201, then 200 unchanged),
// listed, read with its next run, paused and resumed, and deleted (200
// with the schedule as it stood, then 404).
func TestScheduleRoutes(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	u := srv.URL + "/v1/schedules/nightly"
	body := `{"cron":"0 3 * * *","time_zone":"Asia/Kolkata","overlap":"queue_one","task":{"kind":"echo","payload":{"n":1},"policy":{"max_attempts":2}}}`
	var s api.Schedule
	if code, raw := call(t, http.MethodPut, u, body, &s); code != http.StatusCreated {
		t.Fatalf("PUT = %d %s, want 201", code, raw)
	}
	if s.ID != "nightly" || s.Overlap != "queue_one" || s.NextRun == nil || s.NextRun.UTC().Format("15:04") != "21:30" ||
		s.Task.Kind != "echo" || string(s.Task.Payload) != `{"n":1}` || s.Task.Policy == nil || *s.Task.Policy.MaxAttempts != 2 {
		t.Fatalf("PUT answered %+v (task %+v)", s, s.Task)
	}
	if code, raw := call(t, http.MethodPut, u, body, nil); code != http.StatusOK {
		t.Fatalf("PUT again = %d %s, want 200", code, raw)
	}
	var l api.ScheduleList
	if code, raw := call(t, http.MethodGet, srv.URL+"/v1/schedules", "", &l); code != http.StatusOK || l.Count != 1 || l.Schedules[0].ID != "nightly" {
		t.Fatalf("GET list = %d %s", code, raw)
	}
	var paused, resumed api.Schedule
	if code, raw := call(t, http.MethodPost, u+"/pause", "", &paused); code != http.StatusOK || !paused.Paused || paused.NextRun != nil {
		t.Fatalf("pause = %d %s", code, raw)
	}
	if code, raw := call(t, http.MethodPost, u+"/resume", "", &resumed); code != http.StatusOK || resumed.Paused || resumed.NextRun == nil {
		t.Fatalf("resume = %d %s", code, raw)
	}
	var deleted api.Schedule
	if code, raw := call(t, http.MethodDelete, u, "", &deleted); code != http.StatusOK || deleted.ID != "nightly" {
		t.Fatalf("DELETE = %d %s, want 200 with the schedule", code, raw)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if code, raw := call(t, m, u, "", nil); code != http.StatusNotFound {
			t.Fatalf("%s after delete = %d %s, want 404", m, code, raw)
		}
	}
}

// TestScheduleRefusesBadInput: each bad schedule is a 400 saying what is
// wrong, and stores nothing.
func TestScheduleRefusesBadInput(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	cases := map[string]struct{ id, body, says string }{
		"bad cron":      {"s", `{"cron":"61 * * * *","task":{"kind":"echo"}}`, "minute"},
		"bad zone":      {"s", `{"cron":"@daily","time_zone":"Mars/Base","task":{"kind":"echo"}}`, "time zone"},
		"bad overlap":   {"s", `{"cron":"@daily","overlap":"sometimes","task":{"kind":"echo"}}`, "overlap"},
		"unknown kind":  {"s", `{"cron":"@daily","task":{"kind":"nope"}}`, "nope"},
		"bad payload":   {"s", `{"cron":"@daily","task":{"kind":"echo","payload":{"n":"x"}}}`, "template"},
		"task id":       {"s", `{"cron":"@daily","task":{"kind":"echo","id":"x"}}`, "no id"},
		"task job":      {"s", `{"cron":"@daily","task":{"kind":"echo","job_id":"j"}}`, "no job"},
		"task start":    {"s", `{"cron":"@daily","task":{"kind":"echo","start_after":"1m"}}`, "no start"},
		"task fresh":    {"s", `{"cron":"@daily","task":{"kind":"echo","fresh":true}}`, "no fresh"},
		"bad id":        {"-s", `{"cron":"@daily","task":{"kind":"echo"}}`, "schedule id"},
		"long id":       {strings.Repeat("s", 101), `{"cron":"@daily","task":{"kind":"echo"}}`, "schedule id"},
		"sub-second":    {"s", `{"cron":"@every 10ms","task":{"kind":"echo"}}`, "@every"},
		"huge catch-up": {"s", `{"cron":"@daily","catchup_window":"720h","task":{"kind":"echo"}}`, "catch-up"},
		"unknown field": {"s", `{"cron":"@daily","when":"now","task":{"kind":"echo"}}`, "unknown field"},
	}
	for name, c := range cases {
		code, raw := call(t, http.MethodPut, srv.URL+"/v1/schedules/"+c.id, c.body, nil)
		if code != http.StatusBadRequest || !strings.Contains(raw, c.says) {
			t.Errorf("%s: %d %s; want 400 saying %q", name, code, raw, c.says)
		}
	}
	var l api.ScheduleList
	if code, raw := call(t, http.MethodGet, srv.URL+"/v1/schedules", "", &l); code != http.StatusOK || l.Count != 0 {
		t.Fatalf("after bad puts: %d %s; want no schedule", code, raw)
	}
}

// TestSubmitStartAfter: a task submitted with start_after is answered
// pending with its start time and why it waits; start_at with start_after,
// or a negative start_after, is a 400.
func TestSubmitStartAfter(t *testing.T) {
	srv, _ := apiServer(t, httpapi.DefaultConfig())
	var st api.Status
	before := time.Now()
	code, raw := call(t, http.MethodPost, srv.URL+"/v1/tasks", `{"id":"later","kind":"echo","payload":{"n":1},"start_after":"1h"}`, &st)
	if code != http.StatusCreated || st.State != api.StatePending || st.StartAt == nil || st.StartAt.Before(before.Add(time.Hour)) ||
		!strings.HasPrefix(st.Waiting, "scheduled until ") {
		t.Fatalf("POST = %d %s", code, raw)
	}
	for _, body := range []string{
		`{"kind":"echo","start_after":"-1s"}`,
		`{"kind":"echo","start_after":"1s","start_at":"2030-01-01T00:00:00Z"}`,
		`{"kind":"echo","start_at":"2001-01-01T00:00:00Z"}`,
	} {
		if code, raw := call(t, http.MethodPost, srv.URL+"/v1/tasks", body, nil); code != http.StatusBadRequest {
			t.Errorf("POST %s = %d %s, want 400", body, code, raw)
		}
	}
}
