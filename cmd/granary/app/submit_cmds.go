package app

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

func runSubmit(e *env, args []string) error {
	fs := newFlags(e, "submit", "--kind K [--payload JSON | --payload-file F] [--at TIME | --after D] [--job J [--restart R] [--significant]] [flags] | --from FILE [--wait]")
	var cf clientFlags
	cf.register(fs, e, 0, "give up after this long (0: no limit; with --wait, bounds the wait too)")
	var tf taskFlags
	tf.register(fs)
	id := fs.String("id", "", "task id, the idempotency key (default: a random id)")
	job := fs.String("job", "", "job id to group the task in")
	jobStrategy := fs.String("job-strategy", "", "the job's strategy: one_for_one (default), one_for_all or rest_for_one")
	stage := fs.Int("stage", 0, "the task's stage in a rest_for_one job")
	jobRestarts := fs.Int("job-max-restarts", 0, "the job's restart budget: how often a task failing for good restarts the job before it fails (0: it fails at once)")
	jobPeriod := fs.Duration("job-restart-period", 0, "the window of the job's restart budget (0: the job's life)")
	restart := fs.String("restart", "", "the task's restart type in its job: transient (default: restarted after a failure), temporary (never restarted) or permanent (restarted even after it completes)")
	significant := fs.Bool("significant", false, "the task's exit may shut its job down, as the job's auto_shutdown says")
	dependsOn := fs.String("depends-on", "", "run after these tasks completed: ids, or job stages job:<id>/stage:<n>, comma-separated (they must exist; one failing cancels this task)")
	at := fs.String("at", "", "start the task at this time (RFC 3339, e.g. 2026-12-24T18:00:00+01:00); it waits, pending, until then")
	after := fs.Duration("after", 0, "start the task this long after the submit (e.g. 90s, 2h)")
	wait := fs.Bool("wait", false, "wait for the task to finish (exit codes as granary wait)")
	from := fs.String("from", "", "submit the tasks in this file (- for stdin), one JSON object per line as the body of POST /v1/tasks, in batches")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (flags only; see granary submit -h)", pos[0])
	}
	if set := setFlags(fs); set["from"] {
		for name := range set {
			if !fromFlags[name] {
				return usageErr("--from takes each task's settings from its line; --%s does not go with it", name)
			}
		}
		return submitFrom(e, cf, *from, *wait)
	}
	req, err := tf.request(e, fs, "submit")
	if err != nil {
		return err
	}
	req.ID, req.JobID, req.JobStrategy, req.JobStage, req.JobMaxRestarts = *id, *job, *jobStrategy, *stage, *jobRestarts
	req.Restart, req.Significant, req.DependsOn = *restart, *significant, splitList(*dependsOn)
	if *jobPeriod != 0 {
		req.JobRestartPeriod = api.Ptr(api.Duration(*jobPeriod))
	}
	if req.StartAt, req.StartAfter, err = startFlags(fs, *at, *after); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	st, err := c.Submit(ctx, req)
	if err != nil {
		return callErr(err)
	}
	if *wait {
		return waitFor(ctx, e, c, cf, []string{st.ID})
	}
	if cf.json {
		return printJSON(e.stdout, st)
	}
	fmt.Fprintln(e.stdout, st.ID)
	return nil
}

// startFlags reads submit's --at and --after.
func startFlags(fs *flagSet, at string, after time.Duration) (*time.Time, *api.Duration, error) {
	set := setFlags(fs)
	switch {
	case set["at"] && set["after"]:
		return nil, nil, usageErr("give --at or --after, not both")
	case set["at"]:
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return nil, nil, usageErr("--at %q: want an RFC 3339 time such as 2026-12-24T18:00:00Z or 2026-12-24T18:00:00+01:00", at)
		}
		return &t, nil, nil
	case set["after"]:
		if after < 0 {
			return nil, nil, usageErr("--after %s: want a duration of 0 or more", after)
		}
		return nil, api.Ptr(api.Duration(after)), nil
	}
	return nil, nil, nil
}

// taskFlags are the flags of a task's kind, payload, policy and labels:
// submit's and schedule create's.
type taskFlags struct {
	kind, payload, payloadFile, jitter                                *string
	maxAttempts                                                       *int
	backoffInitial, backoffMax, attemptTimeout, heartbeatTimeout, ttl *time.Duration
	backoffMult                                                       *float64
	labels                                                            labels
}

func (t *taskFlags) register(fs *flagSet) {
	t.kind = fs.String("kind", "", "task kind (required)")
	t.payload = fs.String("payload", "", "payload as a JSON value")
	t.payloadFile = fs.String("payload-file", "", "read the payload from this file (- for stdin)")
	t.maxAttempts = fs.Int("max-attempts", 0, "attempts in all, the first included")
	t.backoffInitial = fs.Duration("backoff-initial", 0, "delay before the first retry")
	t.backoffMax = fs.Duration("backoff-max", 0, "cap on the retry delay")
	t.backoffMult = fs.Float64("backoff-multiplier", 0, "growth of the retry delay (>= 1)")
	t.jitter = fs.String("jitter", "", "retry jitter: none, full or equal")
	t.attemptTimeout = fs.Duration("attempt-timeout", 0, "fail an attempt that runs longer (0: none)")
	t.heartbeatTimeout = fs.Duration("heartbeat-timeout", 0, "fail an attempt silent for longer (0: none)")
	t.ttl = fs.Duration("deadline", 0, "fail the task if not done this long after submission (after its start time, if later)")
	t.labels = labels{}
	fs.Var(t.labels, "label", "label key=value (repeatable)")
}

// request is the task the flags describe (cmd names the command in errors).
func (t *taskFlags) request(e *env, fs *flagSet, cmd string) (api.SubmitRequest, error) {
	if *t.kind == "" {
		return api.SubmitRequest{}, usageErr("--kind is required (see granary %s -h)", cmd)
	}
	set := setFlags(fs)
	if set["payload"] && set["payload-file"] {
		return api.SubmitRequest{}, usageErr("give --payload or --payload-file, not both")
	}
	raw := []byte(*t.payload)
	if set["payload-file"] {
		var err error
		if raw, err = readPayload(e, *t.payloadFile); err != nil {
			return api.SubmitRequest{}, err
		}
	}
	req := api.SubmitRequest{Kind: *t.kind}
	if len(t.labels) > 0 {
		req.Labels = t.labels
	}
	if set["payload"] || set["payload-file"] {
		if !json.Valid(raw) {
			return api.SubmitRequest{}, usageErr("the payload is not valid JSON: %.60q", raw)
		}
		req.Payload = raw
	}
	p := &api.Policy{}
	if set["max-attempts"] {
		p.MaxAttempts = t.maxAttempts
	}
	durs := []struct {
		name string
		v    *time.Duration
		dst  **api.Duration
	}{
		{"backoff-initial", t.backoffInitial, &p.BackoffInitial},
		{"backoff-max", t.backoffMax, &p.BackoffMax},
		{"attempt-timeout", t.attemptTimeout, &p.AttemptTimeout},
		{"heartbeat-timeout", t.heartbeatTimeout, &p.HeartbeatTimeout},
		{"deadline", t.ttl, &p.Deadline},
	}
	for _, d := range durs {
		if set[d.name] {
			*d.dst = api.Ptr(api.Duration(*d.v))
		}
	}
	if set["backoff-multiplier"] {
		p.BackoffMultiplier = t.backoffMult
	}
	if set["jitter"] {
		p.Jitter = t.jitter
	}
	if *p != (api.Policy{}) {
		req.Policy = p
	}
	return req, nil
}

func readPayload(e *env, path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, usageErr("reading the payload from stdin: %v", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErr("--payload-file: %v", err)
	}
	return b, nil
}
