package app

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
)

// runSchedules lists the schedules with their next run: what an operator
// looks at before `granary schedule status ID`.
func runSchedules(e *env, args []string) error {
	fs := newFlags(e, "schedules", "[--json]")
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s schedules -h; one schedule: %s schedule status ID)", pos[0], e.name(), e.name())
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	list, err := c.Schedules(ctx)
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, api.ScheduleList{Schedules: list, Count: len(list)})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tCRON\tZONE\tOVERLAP\tKIND\tSTATE\tNEXT RUN\tRUNS\tSKIPPED\tMISSED\tLAST RUN")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.ID, s.Cron, zoneName(s.TimeZone), s.Overlap, s.Task.Kind,
			pausedName(s.Paused), nextRun(s), s.Runs, s.Skipped, s.Missed, s.LastRun)
	}
	_ = tw.Flush()
	fmt.Fprintf(e.stdout, "%d schedules\n", len(list))
	return nil
}

// The arguments of the schedule subcommands, for their help.
const (
	scheduleArgs       = "create|status|pause|resume|delete ID [flags]"
	scheduleCreateArgs = "ID --cron SPEC [--tz ZONE] [--overlap skip|queue_one|allow] [--catchup D] [--paused] --kind K [--payload JSON] [task flags] [--json]"
	scheduleIDArgs     = "ID [--json]"
)

// scheduleCommands are the subcommands of `granary schedule`.
var scheduleCommands = []command{
	{"create", scheduleCreateArgs, "declare a recurring schedule, or change one (idempotent: the same declaration again changes nothing)", runScheduleCreate},
	{"status", scheduleIDArgs, "show a schedule: its spec, next run, counts and last run", runScheduleStatus},
	{"pause", scheduleIDArgs, "pause a schedule: its due times pass without runs", runSchedulePause},
	{"resume", scheduleIDArgs, "resume a paused schedule from now (the paused time is not caught up)", runScheduleResume},
	{"delete", scheduleIDArgs, "delete a schedule: no run starts after it; its runs stay, as tasks", runScheduleDelete},
}

func runSchedule(e *env, args []string) error {
	return runSubcommands(e, "schedule", scheduleArgs, "Each run of a schedule is an ordinary task, id <schedule>-<UTC time>, labelled granary.schedule=<schedule>.", scheduleCommands, args)
}

func runScheduleCreate(e *env, args []string) error {
	fs := newFlags(e, "schedule create", scheduleCreateArgs)
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	var spec api.ScheduleSpec
	fs.StringVar(&spec.Cron, "cron", "", `when runs are due: "MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK", @hourly, @daily, @weekly, @monthly, @yearly or "@every 90s" (required)`)
	fs.StringVar(&spec.TimeZone, "tz", "", "the IANA time zone the spec reads wall time in, e.g. Europe/Paris (default UTC)")
	fs.StringVar(&spec.Overlap, "overlap", "", "what a due run does while the last one runs: skip (default), queue_one or allow")
	fs.BoolVar(&spec.Paused, "paused", false, "declare the schedule paused")
	catchUp := fs.Duration("catchup", 0, "how far back runs missed while no member could fire still start (default: the node's, an hour; 0s: none)")
	var tf taskFlags
	tf.register(fs)
	jc, err := parseJobCall(fs, &cf, args)
	if err != nil {
		return err
	}
	defer jc.cancel()
	if spec.Cron == "" {
		return usageErr("--cron is required (see %s schedule create -h)", e.name())
	}
	if spec.Task, err = tf.request(e, fs, "schedule create"); err != nil {
		return err
	}
	if setFlags(fs)["catchup"] {
		spec.CatchupWindow = api.Ptr(api.Duration(*catchUp))
	}
	s, err := jc.c.PutSchedule(jc.ctx, jc.id, spec)
	return printResult(e, cf, s, err, printSchedule)
}

func runScheduleStatus(e *env, args []string) error {
	return runIDCall(e, args, "schedule status", scheduleIDArgs, (*client.Client).Schedule, printSchedule)
}

func runSchedulePause(e *env, args []string) error {
	return runIDCall(e, args, "schedule pause", scheduleIDArgs, (*client.Client).PauseSchedule, printSchedule)
}

func runScheduleResume(e *env, args []string) error {
	return runIDCall(e, args, "schedule resume", scheduleIDArgs, (*client.Client).ResumeSchedule, printSchedule)
}

func runScheduleDelete(e *env, args []string) error {
	return runIDCall(e, args, "schedule delete", scheduleIDArgs, (*client.Client).DeleteSchedule, func(w io.Writer, s *api.Schedule) {
		fmt.Fprintf(w, "schedule %s deleted after %d runs; its runs stay, as tasks (granary tasks --label granary.schedule=%s)\n", s.ID, s.Runs, s.ID)
	})
}

func printSchedule(w io.Writer, s *api.Schedule) {
	fmt.Fprintf(w, "schedule %s: %q in %s, overlap %s, %s\n", s.ID, s.Cron, zoneName(s.TimeZone), s.Overlap, pausedName(s.Paused))
	fmt.Fprintf(w, "task: kind %s", s.Task.Kind)
	if len(s.Task.Payload) > 0 {
		fmt.Fprintf(w, ", payload %s", clip(string(s.Task.Payload), 80))
	}
	fmt.Fprintf(w, "\nnext run: %s\n", nextRun(s))
	fmt.Fprintf(w, "runs %d, skipped %d, missed %d", s.Runs, s.Skipped, s.Missed)
	if s.LastRun != "" {
		fmt.Fprintf(w, "; last run %s", s.LastRun)
	}
	if s.FiredBy != "" && s.FiredAt != nil {
		fmt.Fprintf(w, " (fired by %s at %s)", s.FiredBy, s.FiredAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if s.Queued != nil {
		fmt.Fprintf(w, "queued: the run of %s waits for the last one to end\n", s.Queued.Format(time.RFC3339))
	}
}

func zoneName(z string) string {
	if z == "" {
		return "UTC"
	}
	return z
}

func pausedName(paused bool) string {
	if paused {
		return "paused"
	}
	return "active"
}

func nextRun(s *api.Schedule) string {
	if s.NextRun == nil {
		return "-"
	}
	return s.NextRun.Format(time.RFC3339)
}
