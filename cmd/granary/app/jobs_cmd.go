package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
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
	return printResult(e, cf, jl, err, printJobs)
}

func printJobs(w io.Writer, jl *api.JobList) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTRATEGY\tSTATE\tRESTARTS\tUPDATED\tERROR")
	for _, j := range jl.Jobs {
		state := j.State
		if state == "" { // a node older than the field
			state = "-"
			if j.Failed {
				state = api.StateFailed
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Strategy, state, j.Restarts, j.MaxRestarts,
			j.UpdatedAt.Format(time.RFC3339), clip(j.Error, 80))
	}
	_ = tw.Flush()
	if jl.Total > len(jl.Jobs) {
		fmt.Fprintf(w, "%d of %s (--limit)\n", len(jl.Jobs), plural(jl.Total, "job"))
		return
	}
	fmt.Fprintln(w, plural(len(jl.Jobs), "job"))
}

// jobCommands are the subcommands of `granary job`.
var jobCommands = []command{
	{"status", "JOB [--json]", "show a job: its declaration, state, restarts, the cause if it ended, its tasks", runJobStatus},
	{"create", jobCreateArgs, "declare a job, a supervisor of tasks and child jobs (idempotent: the same declaration again changes nothing)", runJobCreate},
	{"stop", jobStopArgs, "stop a job and its whole subtree, children first in reverse start order", runJobStop},
	{"tree", jobTreeArgs, "draw a job and its descendants with each one's state, restart budget and restarts", runJobTree},
}

// The arguments of the job subcommands, for their help.
const (
	jobCreateArgs = "JOB [--strategy S] [--max-restarts N] [--period D] [--shutdown D|brutal_kill] [--auto-shutdown A] [--parent P --stage N --restart R --significant] [--json]"
	jobStopArgs   = "JOB [--reason R] [--wait] [--json]"
	jobTreeArgs   = "JOB [--json]" // also job status's
)

// jobArgs are the arguments of the top-level `job` command, for help.
const jobArgs = "status|create|stop|tree JOB [flags]"

// runJob runs a subcommand of `granary job`.
func runJob(e *env, args []string) error {
	return runSubcommands(e, "job", jobArgs, "Jobs are supervisors after Erlang/OTP: their children are tasks (submit --job JOB) and child jobs (job create --parent).", jobCommands, args)
}

// runSubcommands runs the subcommand of group that args name, or prints
// the group's help (the flags every subcommand takes, intro, then the
// subcommands).
func runSubcommands(e *env, group, groupArgs, intro string, subs []command, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fs := newFlags(e, group, groupArgs)
		var cf clientFlags
		cf.register(fs, e, 30*time.Second, "give up after this long")
		w := e.stdout // asked for
		if len(args) == 0 {
			w = e.stderr // a usage error
		}
		fs.printUsage(w)
		fmt.Fprintf(w, "\n%s\n\nSubcommands:\n", intro)
		for _, c := range subs {
			fmt.Fprintf(w, "  %s %s %s %s\n      %s\n", e.name(), group, c.name, c.args, c.summary)
		}
		fmt.Fprintf(w, "\nRun %s %s SUBCOMMAND -h for its flags.\n", e.name(), group)
		if len(args) == 0 {
			return &exitError{code: exitUsage}
		}
		return &exitError{code: exitOK}
	}
	names := make([]string, len(subs))
	for i, c := range subs {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
		names[i] = c.name
	}
	return usageErr("unknown subcommand %q: want %s (see %s %s -h)", args[0], orList(names), e.name(), group)
}

// orList writes names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// jobCall is one job subcommand's call: its job id, client and context.
type jobCall struct {
	id     string
	c      *client.Client
	ctx    context.Context
	cancel context.CancelFunc
}

// parseJobCall parses a job subcommand's flags (registered on fs, cf among
// them) around exactly one job id.
func parseJobCall(fs *flagSet, cf *clientFlags, args []string) (*jobCall, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		// "granary job create": a job id; "granary schedule pause": a schedule id.
		words := strings.Fields(fs.Name())
		noun := words[min(1, len(words)-1)]
		return nil, usageErr("want exactly one %s id, got %d (see %s -h)", noun, len(pos), fs.Name())
	}
	c, err := cf.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := cf.context()
	return &jobCall{id: pos[0], c: c, ctx: ctx, cancel: cancel}, nil
}

func runJobStatus(e *env, args []string) error {
	return runJobRead(e, args, "job status", (*client.Client).Job, printJobStatus)
}

// runJobRead runs a job subcommand that reads one thing about a job and
// prints it, as JSON with --json.
func runJobRead[T any](e *env, args []string, name string, call func(*client.Client, context.Context, string) (T, error), human func(io.Writer, T)) error {
	return runIDCall(e, args, name, jobTreeArgs, call, human)
}

// runIDCall runs a subcommand that takes one id (argsHelp says which),
// makes one call with it and prints the answer, as JSON with --json.
func runIDCall[T any](e *env, args []string, name, argsHelp string, call func(*client.Client, context.Context, string) (T, error), human func(io.Writer, T)) error {
	fs := newFlags(e, name, argsHelp)
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	jc, err := parseJobCall(fs, &cf, args)
	if err != nil {
		return err
	}
	defer jc.cancel()
	out, err := call(jc.c, jc.ctx, jc.id)
	return printResult(e, cf, out, err, human)
}

func printJobStatus(w io.Writer, j *api.JobStatus) {
	fmt.Fprintf(w, "job %s (%s): %s\n", j.ID, j.Strategy, j.State)
	if j.Declared {
		fmt.Fprintf(w, "declared: %s\n", declaration(j.JobSpec, j.Depth))
	}
	if j.MaxRestarts > 0 || j.Restarts > 0 {
		fmt.Fprintf(w, "restarts: %d (budget %d in %s)\n", j.Restarts, j.MaxRestarts, window(j.RestartPeriod))
		for _, r := range j.RestartLog {
			fmt.Fprintf(w, "  %s  after task %s: %s\n", r.At.Format(time.RFC3339), r.Task, r.Error)
		}
	}
	if j.Error != "" {
		fmt.Fprintf(w, "cause: %s\n", j.Error)
	}
	printTable(w, j.Tasks)
}

// window is a restart budget's period as people read it.
func window(p *api.Duration) string {
	if p == nil {
		return "the job's life"
	}
	return time.Duration(*p).String()
}

// declaration is a job's declared settings on one line.
func declaration(s api.JobSpec, depth int) string {
	shutdown := "5s"
	if s.Shutdown != nil {
		shutdown = time.Duration(*s.Shutdown).String()
		if *s.Shutdown == 0 {
			shutdown = "0s (brutal_kill)"
		}
	}
	out := fmt.Sprintf("shutdown %s, auto_shutdown %s", shutdown, s.AutoShutdown)
	if s.Parent != "" {
		out += fmt.Sprintf(", child of %s (stage %d, %s", s.Parent, s.Stage, s.Restart)
		if s.Significant {
			out += ", significant"
		}
		out += fmt.Sprintf(") at depth %d", depth)
	}
	return out
}
