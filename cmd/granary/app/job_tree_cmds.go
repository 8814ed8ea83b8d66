package app

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
)

// shutdownFlag is --shutdown: a duration, or brutal_kill (0: OTP's name
// for a child abandoned at once).
type shutdownFlag struct{ d *time.Duration }

func (f *shutdownFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f *shutdownFlag) Set(s string) error {
	if s == "brutal_kill" || s == "brutal-kill" {
		f.d = new(time.Duration)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 5s, or brutal_kill")
	}
	f.d = &d
	return nil
}

func runJobCreate(e *env, args []string) error {
	fs := newFlags(e, "job create", jobCreateArgs)
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	var spec api.JobSpec
	fs.StringVar(&spec.Strategy, "strategy", "", "the job's strategy: one_for_one (default), one_for_all or rest_for_one")
	fs.IntVar(&spec.MaxRestarts, "max-restarts", 0, "the restart budget: restarts within --period before the job gives up and fails (0: the first child failing for good fails it)")
	period := fs.Duration("period", 0, "the window of the restart budget (0: the job's life)")
	var shutdown shutdownFlag
	fs.Var(&shutdown, "shutdown", "how long a child the job terminates may take to exit before it is abandoned (default 5s, OTP's for workers; 0 or brutal_kill: at once)")
	fs.StringVar(&spec.AutoShutdown, "auto-shutdown", "", "when the job ends by itself: never (default), any_significant or all_significant (after its significant children exit)")
	fs.StringVar(&spec.Parent, "parent", "", "the job this job is a child of (it must exist and be running)")
	fs.IntVar(&spec.Stage, "stage", 0, "the job's place in its parent's start order (with --parent)")
	fs.StringVar(&spec.Restart, "restart", "", "the job's restart type as a child: transient (default), temporary or permanent (with --parent)")
	fs.BoolVar(&spec.Significant, "significant", false, "the job's exit may shut its parent down, as the parent's --auto-shutdown says (with --parent)")
	jc, err := parseJobCall(fs, &cf, args)
	if err != nil {
		return err
	}
	defer jc.cancel()
	if *period != 0 {
		spec.RestartPeriod = api.Ptr(api.Duration(*period))
	}
	if shutdown.d != nil {
		spec.Shutdown = api.Ptr(api.Duration(*shutdown.d))
	}
	j, err := jc.c.DeclareJob(jc.ctx, jc.id, spec)
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, j)
	}
	fmt.Fprintf(e.stdout, "job %s (%s, budget %d in %s): %s\n", j.ID, j.Strategy, j.MaxRestarts, window(j.RestartPeriod), j.State)
	fmt.Fprintf(e.stdout, "declared: %s\n", declaration(j.JobSpec, j.Depth))
	return nil
}

func runJobTree(e *env, args []string) error {
	return runJobRead(e, args, "job tree", (*client.Client).JobTree, printTree)
}

func runJobStop(e *env, args []string) error {
	fs := newFlags(e, "job stop", jobStopArgs)
	var cf clientFlags
	cf.register(fs, e, 2*time.Minute, "give up after this long (with --wait, bounds the wait too)")
	reason := fs.String("reason", "", "why, recorded in each stopped job's and task's cause (default \"by request\")")
	wait := fs.Bool("wait", false, "wait until every job and task of the subtree has ended, showing progress on stderr (exit 3 if --timeout passes first)")
	jc, err := parseJobCall(fs, &cf, args)
	if err != nil {
		return err
	}
	defer jc.cancel()
	t, err := jc.c.StopJob(jc.ctx, jc.id, *reason)
	if err != nil {
		return callErr(err)
	}
	if *wait && !t.Finished() {
		last := ""
		t, err = jc.c.WaitJob(jc.ctx, jc.id, func(t *api.JobTree) {
			if line := stopProgress(t); line != last && !cf.json {
				last = line
				fmt.Fprintf(e.stderr, "%s: %s\n", jc.id, line)
			}
		})
		if err != nil {
			return callErr(err)
		}
	}
	if cf.json {
		return printJSON(e.stdout, t)
	}
	if t.Finished() {
		fmt.Fprintf(e.stdout, "job %s stopped: %s\n", jc.id, stopProgress(t))
		return nil
	}
	fmt.Fprintf(e.stdout, "job %s stopping: %s (see %s job tree %s, or stop --wait)\n", jc.id, stopProgress(t), e.name(), jc.id)
	return nil
}

// stopProgress says how much of a stopping tree has ended.
func stopProgress(t *api.JobTree) string {
	jobs, tasks := t.Unfinished()
	if jobs+tasks == 0 {
		return fmt.Sprintf("all %d jobs and %d tasks have ended", t.Jobs, t.Tasks)
	}
	return fmt.Sprintf("%d of %d jobs and %d of %d tasks still running", jobs, t.Jobs, tasks, t.Tasks)
}

// printTree draws a job tree, one line per job and task, children in start
// order (stage, then id) under their job.
func printTree(w io.Writer, t *api.JobTree) {
	printNode(w, t.Root, "", "")
	if t.Truncated {
		fmt.Fprintf(w, "(truncated: %d jobs and %d tasks drawn)\n", t.Jobs, t.Tasks)
	}
}

// treeLine is one child line of a job: a task or a child job.
type treeLine struct {
	stage int
	id    string
	job   *api.JobNode
	task  *api.TaskNode
}

func printNode(w io.Writer, n *api.JobNode, first, rest string) {
	fmt.Fprintf(w, "%sjob %s %s  %s  budget %d/%d in %s  restarts %d%s\n", first, n.ID, childOf(n.Stage, n.Restart, n.Significant, n.Parent != ""), n.State,
		n.RestartsInPeriod, n.MaxRestarts, window(n.RestartPeriod), n.Restarts, strategyNote(n))
	lines := make([]treeLine, 0, len(n.Tasks)+len(n.Jobs))
	for i := range n.Tasks {
		lines = append(lines, treeLine{stage: n.Tasks[i].Stage, id: n.Tasks[i].ID, task: &n.Tasks[i]})
	}
	for _, c := range n.Jobs {
		lines = append(lines, treeLine{stage: c.Stage, id: c.ID, job: c})
	}
	slices.SortStableFunc(lines, func(a, b treeLine) int { return cmp.Or(cmp.Compare(a.stage, b.stage), cmp.Compare(a.id, b.id)) })
	if n.TasksOmitted+n.JobsOmitted > 0 {
		lines = append(lines, treeLine{})
	}
	if n.Error != "" {
		bar := "   "
		if len(lines) > 0 {
			bar = "│  "
		}
		fmt.Fprintf(w, "%s%scause: %s\n", rest, bar, clip(n.Error, 160))
	}
	for i, l := range lines {
		branch, more := "├─ ", "│  "
		if i == len(lines)-1 {
			branch, more = "└─ ", "   "
		}
		switch {
		case l.job != nil:
			printNode(w, l.job, rest+branch, rest+more)
		case l.task != nil:
			t := l.task
			fmt.Fprintf(w, "%s%stask %s %s %s  %s  attempts %d%s\n", rest, branch, t.ID, childOf(t.Stage, t.Restart, t.Significant, true), t.Kind, t.State, t.Attempts,
				errNote(t.Error))
		default:
			fmt.Fprintf(w, "%s%s… %d more tasks and %d more jobs (truncated)\n", rest, branch, n.TasksOmitted, n.JobsOmitted)
		}
	}
}

// childOf is a child's place in its job: [stage, restart type, significant].
func childOf(stage int, restart string, significant, isChild bool) string {
	if !isChild {
		return "(root)"
	}
	parts := []string{fmt.Sprintf("stage %d", stage), cmp.Or(restart, api.RestartTransient)}
	if significant {
		parts = append(parts, "significant")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func strategyNote(n *api.JobNode) string {
	note := "  " + n.Strategy
	if n.AutoShutdown != "" && n.AutoShutdown != api.AutoShutdownNever {
		note += ", auto_shutdown " + n.AutoShutdown
	}
	return note
}

func errNote(err string) string {
	if err == "" {
		return ""
	}
	return "  " + clip(err, 100)
}
