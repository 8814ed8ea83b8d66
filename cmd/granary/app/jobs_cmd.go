package app

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
)

// runJobs lists the jobs, most recently changed first: what an operator
// looks at before `granary job status JOB`.
func runJobs(e *env, args []string) error {
	fs := newFlags(e, "jobs", "[--limit N] [--json]")
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	limit := fs.Int("limit", httpapi.DefaultJobLimit, fmt.Sprintf("jobs to list, most recently changed first (at most %d)", httpapi.MaxJobLimit))
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s jobs -h; one job: %s job status JOB)", pos[0], e.name(), e.name())
	}
	if *limit < 1 || *limit > httpapi.MaxJobLimit {
		return usageErr("--limit %d: want 1 to %d", *limit, httpapi.MaxJobLimit)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	jl, err := c.Jobs(ctx, *limit)
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, jl)
	}
	printJobs(e.stdout, jl)
	return nil
}

func printJobs(w io.Writer, jl *api.JobList) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTRATEGY\tSTATE\tRESTARTS\tUPDATED\tERROR")
	for _, j := range jl.Jobs {
		state := "ok"
		if j.Failed {
			state = "failed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Strategy, state, j.Restarts, j.MaxRestarts,
			j.UpdatedAt.Format(time.RFC3339), clip(j.Error, 80))
	}
	_ = tw.Flush()
	if jl.Total > len(jl.Jobs) {
		fmt.Fprintf(w, "%d of %d jobs (--limit)\n", len(jl.Jobs), jl.Total)
		return
	}
	fmt.Fprintf(w, "%d jobs\n", len(jl.Jobs))
}
