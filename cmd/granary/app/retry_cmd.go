package app

import (
	"fmt"
	"sort"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

const retryArgs = "ID [--reason R] [--json] | --kind K --label k=v... --job J --state S --failed-since D|TIME [--dry-run] [--json]"

// runRetry sends a failed or cancelled task round again (POST
// /v1/tasks/{id}/retry), or every one a filter selects (POST
// /v1/tasks:retry), or with --dry-run counts them.
func runRetry(e *env, args []string) error {
	fs := newFlags(e, "retry", retryArgs)
	var cf clientFlags
	cf.register(fs, e, 60*time.Second, "give up after this long")
	reason := fs.String("reason", "retried by request", "why, for the logs")
	kind := fs.String("kind", "", "retry the failed or cancelled tasks of this kind")
	lbl := labels{}
	fs.Var(lbl, "label", "… with label key=value (repeatable: all of them)")
	job := fs.String("job", "", "… of this job")
	state := fs.String("state", "", "only failed, or only cancelled, tasks (default: both)")
	since := fs.String("failed-since", "", "… that ended within this long (1h) or since this RFC 3339 time")
	dry := fs.Bool("dry-run", false, "count and list the tasks a filter selects; retry none")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	filtered := *kind != "" || len(lbl) > 0 || *job != "" || *state != "" || *since != ""
	switch {
	case len(pos) > 1:
		return usageErr("want at most one task id, got %d (see %s retry -h)", len(pos), e.name())
	case len(pos) == 1 && (filtered || *dry):
		return usageErr("give a task id or a filter (--kind, --label, --job, --state, --failed-since), not both")
	case len(pos) == 0 && !filtered:
		return usageErr("give a task id, or a filter (--kind, --label, --job, --state, --failed-since) to retry many")
	}
	req := api.RetryManyRequest{Kind: *kind, JobID: *job, DryRun: *dry, Reason: *reason}
	if len(lbl) > 0 {
		req.Labels = lbl
	}
	if *state != "" {
		if *state != api.StateFailed && *state != api.StateCancelled {
			return usageErr("--state must be failed or cancelled, got %q", *state)
		}
		req.States = []string{*state}
	}
	if *since != "" {
		at, err := parseSince(*since, time.Now())
		if err != nil {
			return usageErr("--failed-since: %v", err)
		}
		req.FailedSince = &at
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	if len(pos) == 1 {
		st, err := c.Retry(ctx, pos[0], *reason)
		if err != nil {
			return callErr(err)
		}
		if cf.json {
			return printJSON(e.stdout, st)
		}
		fmt.Fprintf(e.stdout, "%s sent round again (retries: %d, attempts so far: %d)\n", st.ID, st.Retries, st.Attempts)
		return nil
	}
	out, err := c.RetryMany(ctx, req)
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, out)
	}
	printRetryMany(e, out)
	if len(out.Failed) > 0 {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%d tasks could not be retried", len(out.Failed))}
	}
	return nil
}

// printRetryMany prints what a retry by filter did, for people.
func printRetryMany(e *env, out *api.RetryManyResponse) {
	verb := "sent round again"
	if out.DryRun {
		verb = "would be sent round again (dry run)"
	}
	for _, id := range out.IDs {
		fmt.Fprintln(e.stdout, id)
	}
	fmt.Fprintf(e.stdout, "%d tasks %s\n", out.Count, verb)
	ids := make([]string, 0, len(out.Failed))
	for id := range out.Failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(e.stderr, "%s: %s\n", id, out.Failed[id])
	}
	if out.More {
		fmt.Fprintf(e.stdout, "more tasks match than one request takes (%d): run it again\n", api.MaxRetryMany)
	}
}

// parseSince reads a duration back from now (1h) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q must be positive", s)
		}
		return now.Add(-d), nil
	}
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (1h) nor an RFC 3339 time", s)
	}
	return at, nil
}
