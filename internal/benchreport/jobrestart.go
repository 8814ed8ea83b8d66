package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/granary-rt/granary/internal/benchmarks"
)

// jobRestartSection times a one_for_all restart of a 100-task job on one
// member and on three, against cancelling and resubmitting 100 tasks
// through the plain API in the same run (issue #20).
func jobRestartSection(cfg config) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "## One_for_all restart of a %d-task job\n\n", benchmarks.JobTasks)
	fmt.Fprintf(&b, "| members | supervised restart p50 | max | cancel and resubmit p50 | max | ratio (p50) |\n|---|---|---|---|---|---|\n")
	for _, m := range []struct {
		n    int
		name string
	}{{1, "1 (`granary dev`)"}, {3, "3 (`granary node`, one Consul agent)"}} {
		r, err := benchmark(func(b *testing.B) { benchmarks.JobRestart(b, m.n, cfg.jobRounds) }, "1x", "-bench JobRestart ./internal/benchmarks")
		if err != nil {
			return "", err
		}
		x := r.Extra
		fmt.Printf("one_for_all restart of %d tasks, %d member(s): p50 %.2f s max %.2f s   cancel+resubmit p50 %.2f s max %.2f s\n",
			benchmarks.JobTasks, m.n, x["job-p50-s"], x["job-max-s"], x["raw-p50-s"], x["raw-max-s"])
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f |\n", m.name, fmtSecs(x["job-p50-s"]), fmtSecs(x["job-max-s"]),
			fmtSecs(x["raw-p50-s"]), fmtSecs(x["raw-max-s"]), x["job-p50-s"]/x["raw-p50-s"])
	}
	fmt.Fprintf(&b, `
How measured, %d rounds per row (p50 is the median round, max the slowest), each round on a fresh job: %d `+"`sleep`"+` tasks of ten minutes and one `+"`hang`"+` task (max_attempts 1, attempt_timeout 1s, succeeding from its second attempt) in a one_for_all job, all submitted through the HTTP API. The hang task's first attempt times out and fails for good; the job terminates every sibling (a sleep honours its cancellation at once), waits for each to exit, and starts all of them again. **supervised restart**: from the failure (the `+"`at`"+` of the hang task's stored error) until a listing of the job's tasks shows every task on its second attempt and every sleep running, polled every %v. **cancel and resubmit**, the baseline without a supervisor: %d running sleeps are cancelled (16 calls at a time), awaited until all are cancelled, %d new ones submitted in one batch and awaited until all run. A plain cancel marks its task cancelled as soon as the attempt's context is cancelled, without waiting for the handler to return, so the baseline includes no wait for exits (an old attempt that ignores its cancellation may still run next to its replacement); the supervised restart waits for each exit (up to the job's shutdown time).
`, cfg.jobRounds, benchmarks.JobTasks-1, benchmarks.JobPoll, benchmarks.JobTasks, benchmarks.JobTasks)
	return b.String(), nil
}
