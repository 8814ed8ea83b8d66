package metrics_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/supervisor"
)

func Example() {
	m := metrics.New(metrics.DefaultConfig())
	resize := m.Task("resize") // resolved once; each record is an atomic add
	resize.Submitted()
	resize.AttemptStarted()
	resize.AttemptFailed(supervisor.CausePanic, 20*time.Millisecond)
	resize.AttemptStarted()
	resize.AttemptSucceeded(15 * time.Millisecond)
	m.ReadFenced(func() bool { return false }) // read at scrape time

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "granary_task_attempts_finished_total") && !strings.HasSuffix(line, " 0") ||
			strings.HasPrefix(line, "granary_member_fenced") {
			fmt.Println(line)
		}
	}

	var off *metrics.Metrics // metrics off: every call is a no-op
	off.Task("resize").AttemptStarted()
	// Output:
	// granary_member_fenced 0
	// granary_task_attempts_finished_total{kind="resize",outcome="panic"} 1
	// granary_task_attempts_finished_total{kind="resize",outcome="succeeded"} 1
}
