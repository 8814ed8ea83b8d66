package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
)

// waitFor waits for every id at once, shows a progress line on a terminal,
// then prints the final statuses. Exit: 0 all completed, 1 any failed or
// cancelled, 3 the time-out passed first.
func waitFor(ctx context.Context, e *env, c *client.Client, cf clientFlags, ids []string) error {
	w := startWaits(ctx, c, ids)
	if e.isTerminal && !cf.json {
		w.showProgress(e)
	}
	<-w.done

	final, timedOut, failed, err := w.outcome()
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		if err := printJSON(e.stdout, api.TaskList{Tasks: final, Count: len(final)}); err != nil {
			return err
		}
	} else {
		for _, st := range final {
			fmt.Fprintln(e.stdout, summaryLine(st))
		}
	}
	switch {
	case timedOut:
		return &exitError{code: exitTimeout, msg: fmt.Sprintf("timed out after %s with %d of %d tasks unfinished", cf.timeout, len(ids)-countTerminal(final), len(ids))}
	case failed:
		return &exitError{code: exitFailed}
	}
	return nil
}

// waits are the waits of waitFor, one goroutine a task; done closes when
// every one has returned.
type waits struct {
	ids   []string
	start time.Time
	done  chan struct{}
	errs  []error // by index of ids, each written by its goroutine only

	mu     sync.Mutex
	latest map[string]*api.Status // the last status each wait heard of
}

// startWaits waits for each of ids, at most 64 long polls at once on one
// node.
func startWaits(ctx context.Context, c *client.Client, ids []string) *waits {
	w := &waits{ids: ids, start: time.Now(), done: make(chan struct{}), errs: make([]error, len(ids)),
		latest: make(map[string]*api.Status, len(ids))}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // bound concurrent long polls on one node
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st, err := c.Wait(ctx, id, func(s *api.Status) { w.note(id, s) })
			if err != nil {
				w.errs[i] = err
				return
			}
			w.note(id, st)
		}()
	}
	go func() { wg.Wait(); close(w.done) }()
	return w
}

func (w *waits) note(id string, st *api.Status) {
	w.mu.Lock()
	w.latest[id] = st
	w.mu.Unlock()
}

// showProgress redraws a progress line on stderr until every wait
// returned, then clears it.
func (w *waits) showProgress(e *env) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			fmt.Fprint(e.stderr, "\r\033[K")
			return
		case <-tick.C:
			w.mu.Lock()
			line := progressLine(w.ids, w.latest, time.Since(w.start))
			w.mu.Unlock()
			fmt.Fprintf(e.stderr, "\r\033[K%s", line)
		}
	}
}

// outcome reads the waits once done: the final statuses in the order of
// ids, whether the time-out passed first, whether any task ended other
// than completed, and the first other error (naming its task).
func (w *waits) outcome() (final []*api.Status, timedOut, failed bool, err error) {
	final = make([]*api.Status, 0, len(w.ids))
	for i, id := range w.ids {
		switch {
		case w.errs[i] == nil:
			final = append(final, w.latest[id])
			if w.latest[id].State != api.StateCompleted {
				failed = true
			}
		case errors.Is(w.errs[i], context.DeadlineExceeded):
			timedOut = true
			if st := w.latest[id]; st != nil {
				final = append(final, st)
			}
		default:
			if err == nil {
				err = fmt.Errorf("%s: %w", id, w.errs[i])
			}
		}
	}
	return final, timedOut, failed, err
}

func countTerminal(list []*api.Status) int {
	n := 0
	for _, st := range list {
		if st.Terminal() {
			n++
		}
	}
	return n
}

func progressLine(ids []string, latest map[string]*api.Status, took time.Duration) string {
	counts := map[string]int{}
	for _, id := range ids {
		if st := latest[id]; st != nil {
			counts[st.State]++
		} else {
			counts["unknown"]++
		}
	}
	finished := counts[api.StateCompleted] + counts[api.StateFailed] + counts[api.StateCancelled]
	line := fmt.Sprintf("waiting: %d/%d finished (%d completed, %d failed, %d cancelled), %d running, %d retrying, %d pending · %s",
		finished, len(ids), counts[api.StateCompleted], counts[api.StateFailed], counts[api.StateCancelled],
		counts[api.StateRunning], counts[api.StateRetrying], counts[api.StatePending]+counts["unknown"], took.Round(time.Second))
	if len(ids) == 1 {
		if st := latest[ids[0]]; st != nil && st.State == api.StateRunning && st.Progress > 0 {
			line += fmt.Sprintf(" · %.0f%% %s", st.Progress*100, st.ProgressNote)
		}
	}
	return line
}

// summaryLine is one task on one line.
func summaryLine(st *api.Status) string {
	s := fmt.Sprintf("%s\t%s\t%s\tattempts=%d", st.ID, st.Kind, st.State, st.Attempts)
	switch {
	case st.State == api.StateCompleted && len(st.Result) > 0:
		s += "\tresult=" + clip(string(st.Result), 200)
	case st.Error != "":
		s += "\terror=" + clip(st.Error, 200)
	}
	return s
}

func printStatus(w io.Writer, st *api.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("id", st.ID)
	row("kind", st.Kind)
	row("state", st.State)
	row("attempts", attemptsText(st))
	row("owner", fmt.Sprintf("%s (epoch %d)", st.Owner, st.Epoch))
	row("submitted", st.SubmittedAt.Format(time.RFC3339Nano))
	if st.StartedAt != nil {
		row("started", st.StartedAt.Format(time.RFC3339Nano))
	}
	if st.NextAttemptAt != nil {
		row("next attempt", st.NextAttemptAt.Format(time.RFC3339Nano))
	}
	row("waiting", st.Waiting)
	if st.Schedule != "" && st.ScheduleSlot != nil {
		row("schedule", fmt.Sprintf("%s, the run of %s", st.Schedule, st.ScheduleSlot.Format(time.RFC3339)))
	}
	if st.FinishedAt != nil {
		row("finished", st.FinishedAt.Format(time.RFC3339Nano))
	}
	if st.State == api.StateRunning {
		row("progress", fmt.Sprintf("%.0f%% %s", st.Progress*100, st.ProgressNote))
	}
	if st.CheckpointAt != nil {
		row("checkpoint", fmt.Sprintf("%d bytes, saved %s by attempt %d", st.CheckpointBytes, st.CheckpointAt.Format(time.RFC3339Nano), st.CheckpointAttempt))
	}
	if st.Retries > 0 && st.RetriedAt != nil {
		row("retried", fmt.Sprintf("%d times, last %s", st.Retries, st.RetriedAt.Format(time.RFC3339Nano)))
	}
	printPayload(row, st)
	if len(st.Result) > 0 {
		row("result", clip(string(st.Result), 2000))
	}
	if st.ResultBase64 != "" {
		row("result (base64)", clip(st.ResultBase64, 2000))
	}
	row("error", st.Error)
	row("depends on", strings.Join(st.DependsOn, ", "))
	row("waiting", st.Waiting)
	_ = tw.Flush()
	if len(st.Errors) > 0 {
		fmt.Fprintln(w, "failed attempts:")
		for _, e := range st.Errors {
			fmt.Fprintf(w, "  #%d %s %s: %s\n", e.Attempt, e.At.Format(time.RFC3339Nano), e.Cause, clip(e.Message, 300))
		}
	}
}

// attemptsText is a task's attempts against its budget. A restart gives
// the task a fresh budget that counts from it (budget_base): "6 of 4"
// would read as a broken limit, so the count since the restart is shown.
func attemptsText(st *api.Status) string {
	max := deref(st.Policy.MaxAttempts)
	if st.BudgetBase > 0 {
		return fmt.Sprintf("%d in all; %d of %d since the last restart", st.Attempts, st.Attempts-st.BudgetBase, max)
	}
	return fmt.Sprintf("%d of %d", st.Attempts, max)
}

func printTable(w io.Writer, list []*api.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tATTEMPTS\tOWNER\tSUBMITTED\tERROR")
	for _, st := range list {
		owner := st.Owner
		if owner == "" {
			owner = "-" // not claimed yet
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", st.ID, st.Kind, st.State, st.Attempts, owner, st.SubmittedAt.Format(time.RFC3339), clip(st.Error, 80))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, plural(len(list), "task"))
}

// plural is "1 task", "2 tasks", "0 tasks".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printCounts prints task counts: one row per kind, a column per state.
func printCounts(w io.Writer, st *api.TaskStats) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "KIND\t%s\tTOTAL\t\n", strings.ToUpper(strings.Join(api.States, "\t")))
	row := func(name string, by map[string]int) {
		total := 0
		fmt.Fprintf(tw, "%s\t", name)
		for _, s := range api.States {
			fmt.Fprintf(tw, "%d\t", by[s])
			total += by[s]
		}
		fmt.Fprintf(tw, "%d\t\n", total)
	}
	for _, kind := range slices.Sorted(maps.Keys(st.ByKind)) {
		row(kind, st.ByKind[kind])
	}
	row("all", st.ByState)
	_ = tw.Flush()
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// printMembers prints the members, with each one's health in the names of
// GET /v1/cluster and the console (healthy, unhealthy, left): health holds
// those of the members not in the healthy view.
func printMembers(w io.Writer, ms []api.Member, health map[string]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDR\tHTTP\tHEALTH\tACTIVATIONS\tVERSION\tKINDS")
	unhealthy := 0
	for _, m := range ms {
		h := health[m.ID]
		switch {
		case h != "":
			unhealthy++
		case m.Healthy && m.Draining:
			h = "healthy, draining"
		case m.Healthy:
			h = "healthy"
		default:
			h = "unhealthy"
			unhealthy++
		}
		addr, httpAddr := m.Addr, m.HTTPAddr
		if addr == "" {
			addr = "-"
		}
		if httpAddr == "" {
			httpAddr = "-"
		}
		acts := fmt.Sprint(m.Activations)
		if m.Activations < 0 {
			acts = "?"
		}
		version := m.Version
		if version == "" {
			version = "?" // a member older than the field
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, addr, httpAddr, h, acts, version, strings.Join(m.Kinds, ","))
	}
	_ = tw.Flush()
	if unhealthy > 0 {
		fmt.Fprintf(w, "%s (%d not healthy: registered in Consul with a failing check until Consul reaps it, or left)\n", plural(len(ms), "member"), unhealthy)
		return
	}
	fmt.Fprintln(w, plural(len(ms), "member"))
}

func printKinds(w io.Writer, ks []api.Kind) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTYPE\tEXAMPLE\tDEFAULTS")
	for _, k := range ks {
		example := "-"
		if len(k.Example) > 0 {
			example = clip(string(k.Example), 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, k.Type, example, kindDefaults(k))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, plural(len(ks), "kind"))
}

// kindDefaults is a kind's defaults on one line, named as submit's flags.
func kindDefaults(k api.Kind) string {
	if k.Type == api.KindGrain {
		var s []string
		if k.Singleton {
			s = append(s, "singleton")
		}
		if k.Durable {
			s = append(s, "durable state")
		}
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ", ")
	}
	p := k.Defaults
	if p == nil {
		return "-"
	}
	s := []string{fmt.Sprintf("max-attempts=%d", deref(p.MaxAttempts))}
	dur := func(name string, d *api.Duration) {
		if d != nil {
			s = append(s, fmt.Sprintf("%s=%s", name, time.Duration(*d)))
		}
	}
	dur("backoff-initial", p.BackoffInitial)
	dur("backoff-max", p.BackoffMax)
	if p.BackoffMultiplier != nil {
		s = append(s, fmt.Sprintf("backoff-multiplier=%g", *p.BackoffMultiplier))
	}
	if p.Jitter != nil {
		s = append(s, "jitter="+*p.Jitter)
	}
	dur("attempt-timeout", p.AttemptTimeout)
	dur("heartbeat-timeout", p.HeartbeatTimeout)
	dur("deadline", p.Deadline)
	return strings.Join(s, " ")
}

// printPayload shows a task's input: JSON or base64, cut for a terminal;
// a listing's elided payload by its size.
func printPayload(row func(k, v string), st *api.Status) {
	switch {
	case len(st.Payload) > 0:
		row("payload", clip(string(st.Payload), 2000))
	case st.PayloadBase64 != "":
		row("payload (base64)", clip(st.PayloadBase64, 2000))
	case st.PayloadElided:
		row("payload", fmt.Sprintf("%d bytes (not in listings)", st.PayloadBytes))
	}
}

// printResult ends a command that made one call: the call's error, else
// v as JSON with --json, else as human prints it.
func printResult[T any](e *env, cf clientFlags, v T, err error, human func(io.Writer, T)) error {
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, v)
	}
	human(e.stdout, v)
	return nil
}
