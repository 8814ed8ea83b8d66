package tasks_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The tests of this file check the promises of OTP's supervisor that
// issue 20 found broken, with the "scripted" task kind: every attempt's
// behaviour is in its payload, and every start and exit of an attempt is
// logged in order (script), with how many attempts of a task run at once.

// scriptIn scripts a task's attempts. MaxAttempts is 1: an attempt that
// fails fails the task for good, and its job decides.
type scriptIn struct {
	FailOn     []int `json:"fail_on"`     // attempts that fail...
	AfterMS    int   `json:"after_ms"`    // ...this long after they start
	CompleteOn []int `json:"complete_on"` // attempts that complete at once
	LingerMS   int   `json:"linger_ms"`   // others block until cancelled, then take this long to exit
	LateResult bool  `json:"late_result"` // and then return a result instead of an error
}

type scriptLog struct {
	mu     sync.Mutex
	events []string
	at     map[string]time.Time // when each event happened
	active map[string]int
	most   map[string]int
}

var script = &scriptLog{at: map[string]time.Time{}, active: map[string]int{}, most: map[string]int{}}

func (l *scriptLog) record(ev string) {
	l.events = append(l.events, ev)
	l.at[ev] = time.Now()
}

func (l *scriptLog) start(id string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(fmt.Sprintf("start %s#%d", id, n))
	l.active[id]++
	l.most[id] = max(l.most[id], l.active[id])
}

func (l *scriptLog) exit(id string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(fmt.Sprintf("exit %s#%d", id, n))
	l.active[id]--
}

// span is the time from event from to the last of events to.
func (l *scriptLog) span(from string, to []string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	for _, ev := range to {
		if l.at[ev].After(last) {
			last = l.at[ev]
		}
	}
	return last.Sub(l.at[from])
}

// of returns the events of the tasks whose id starts with prefix, in order.
func (l *scriptLog) of(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if _, id, _ := strings.Cut(e, " "); strings.HasPrefix(id, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// mostAtOnce is the most attempts of task id that ever ran at once.
func (l *scriptLog) mostAtOnce(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.most[id]
}

func registerScripted(t *testing.T, reg *actors.Registry) {
	t.Helper()
	k, err := actors.Task("scripted", func(ctx actors.TaskContext, in scriptIn) (string, error) {
		id, n := ctx.TaskID(), ctx.Attempt()
		script.start(id, n)
		defer script.exit(id, n)
		switch {
		case slices.Contains(in.FailOn, n):
			time.Sleep(time.Duration(in.AfterMS) * time.Millisecond)
			return "", fmt.Errorf("scripted failure of attempt %d", n)
		case slices.Contains(in.CompleteOn, n):
			return fmt.Sprintf("attempt %d", n), nil
		}
		<-ctx.Done()
		time.Sleep(time.Duration(in.LingerMS) * time.Millisecond) // slow to honour the cancellation
		if in.LateResult {
			return fmt.Sprintf("late attempt %d", n), nil
		}
		return "", ctx.Err()
	}, actors.WithSettings(actors.Settings{MaxAttempts: 1, AttemptTimeout: time.Minute,
		Backoff: supervisor.Backoff{Initial: time.Millisecond, Multiplier: 2, Max: 10 * time.Millisecond}}))
	if err == nil {
		err = reg.RegisterTask(k)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func scripted(job, id string, stage, maxRestarts int, in string) tasks.Submission {
	return tasks.Submission{ID: job + "-" + id, Kind: "scripted", Payload: []byte(in), JobID: job, JobStrategy: "one_for_all", JobStage: stage, JobMaxRestarts: maxRestarts}
}

func (h *harness) awaitEvents(prefix string, want ...string) {
	h.t.Helper()
	testutil.Eventually(h.t, 20*time.Second, func() (bool, string) {
		got := script.of(prefix)
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false, fmt.Sprintf("no %q in %q", w, got)
			}
		}
		return true, ""
	})
}

// after returns the events of evs from the first one equal to from.
func after(evs []string, from string) []string {
	if i := slices.Index(evs, from); i >= 0 {
		return evs[i:]
	}
	return nil
}

// TestJobRestartWaitsAndKeepsOrder: in a one_for_all restart the other
// children are terminated in reverse start order, each waited for (they
// take 200 ms to honour the cancellation), before any is started again,
// in start order; no task ever runs twice at once (issue 20, points 2
// and 4). Then a stop of the job terminates them, children first, in
// reverse start order (point 6).
func TestJobRestartWaitsAndKeepsOrder(t *testing.T) {
	h := newHarness(t, "")
	job := "ord"
	h.submitSub(scripted(job, "a", 0, 1, `{"linger_ms":200}`))
	h.submitSub(scripted(job, "c", 2, 1, `{"linger_ms":200}`))
	h.submitSub(scripted(job, "b", 1, 1, `{"fail_on":[1],"after_ms":300}`))
	h.awaitEvents(job, "start ord-a#2", "start ord-b#2", "start ord-c#2")
	got := after(script.of(job), "exit ord-b#1")
	want := []string{"exit ord-b#1", "exit ord-c#1", "exit ord-a#1", "start ord-a#2", "start ord-b#2", "start ord-c#2"}
	if !slices.Equal(got, want) {
		t.Fatalf("after b failed: %q\nwant %q", got, want)
	}
	for _, id := range []string{"ord-a", "ord-b", "ord-c"} {
		if n := script.mostAtOnce(id); n != 1 {
			t.Fatalf("%s ran %d attempts at once", id, n)
		}
		if e := h.get(id).GetStatus().GetErrors(); id != "ord-b" && (len(e) != 1 || e[0].GetCause() != tasks.CauseJobTerminate) {
			t.Fatalf("%s errors %v, want its attempt 1 terminated by its job", id, e)
		}
	}

	jr, err := h.m.StopJob(testutil.Context(t, 10*time.Second), job, "test over")
	if err != nil || jr.Job.GetRun().GetEnd() != supervisor.EndStopped.String() {
		t.Fatalf("StopJob = %v, %v; want the job stopped", jr.Job.GetRun(), err)
	}
	if got := after(script.of(job), "exit ord-c#2"); !slices.Equal(got, []string{"exit ord-c#2", "exit ord-b#2", "exit ord-a#2"}) {
		t.Fatalf("stop: %q, want c, b, a", got)
	}
	for _, id := range []string{"ord-a", "ord-b", "ord-c"} {
		if st := h.get(id).GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_CANCELLED || !strings.Contains(st.GetError(), "test over") {
			t.Fatalf("%s after the stop: %v %q", id, st.GetState(), st.GetError())
		}
	}
	if _, _, err := h.m.Submit(context.Background(), scripted(job, "d", 0, 1, `{}`)); err == nil {
		t.Fatal("a stopped job took a new task")
	}
	if again, err := h.m.StopJob(context.Background(), job, ""); err != nil || again.Revision != jr.Revision {
		t.Fatalf("a second stop = %v, %v; want the job as it is", again.Job.GetRun(), err)
	}
}

// TestJobOneIncidentOneRestart: two children of a one_for_all job failing
// within milliseconds cost one restart, and each child starts once again:
// the exit of a child the job is terminating is not a second failure
// (issue 20, point 3).
func TestJobOneIncidentOneRestart(t *testing.T) {
	h := newHarness(t, "")
	job := "inc"
	h.submitSub(scripted(job, "z", 0, 5, `{}`))
	h.running(job + "-z")
	h.submitSub(scripted(job, "x", 1, 5, `{"fail_on":[1],"after_ms":150}`))
	h.submitSub(scripted(job, "y", 2, 5, `{"fail_on":[1],"after_ms":150}`))
	h.awaitEvents(job, "start inc-x#2", "start inc-y#2", "start inc-z#2")
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := h.store.GetJob(context.Background(), job)
		return err == nil && jr.Job.GetRun().GetPhase() == "running", fmt.Sprintf("job run %v, %v", jr.Job.GetRun(), err)
	})
	jr, _ := h.store.GetJob(context.Background(), job)
	if n := jr.Job.GetRun().GetRestartCount(); n != 1 || len(jr.Job.GetRestarts()) != 1 {
		t.Fatalf("%d restarts (%v), want 1", n, jr.Job.GetRestarts())
	}
	for _, e := range script.of(job) {
		if strings.HasSuffix(e, "#3") {
			t.Fatalf("%s: a child started a third time: %q", e, script.of(job))
		}
	}
	if _, err := h.m.StopJob(testutil.Context(t, 10*time.Second), job, ""); err != nil {
		t.Fatal(err)
	}
}

// TestJobAbandonsAnAttemptPastItsShutdown: a child that does not exit
// within the job's shutdown time is abandoned (recorded so), the restart
// goes on, and the result the abandoned attempt returns later is dropped:
// the task's committed result is its next attempt's.
func TestJobAbandonsAnAttemptPastItsShutdown(t *testing.T) {
	h := newHarness(t, "")
	job := "aband"
	decl := &messages.Job{Id: job, Strategy: "one_for_all", MaxRestarts: 1, Shutdown: durationpb.New(100 * time.Millisecond)}
	if _, err := h.store.PutJob(context.Background(), decl, 0); err != nil {
		t.Fatal(err)
	}
	h.submitSub(scripted(job, "p", 0, 1, `{"linger_ms":700,"late_result":true,"complete_on":[2]}`))
	h.running(job + "-p")
	h.submitSub(scripted(job, "q", 1, 1, `{"fail_on":[1],"after_ms":100}`))
	p := h.await(job + "-p")
	if string(p.GetStatus().GetResult()) != `"attempt 2"` || len(p.GetStatus().GetErrors()) != 1 || p.GetStatus().GetErrors()[0].GetCause() != tasks.CauseAbandoned {
		t.Fatalf("p: %s %v, want the second attempt's result and the first recorded abandoned", p.GetStatus().GetResult(), p.GetStatus().GetErrors())
	}
	h.awaitEvents(job, "exit aband-p#1") // the abandoned attempt returns its late result
	if r := h.get(job + "-p").GetStatus().GetResult(); string(r) != `"attempt 2"` {
		t.Fatalf("the abandoned attempt's late result was committed: %s", r)
	}
	if _, err := h.m.StopJob(testutil.Context(t, 10*time.Second), job, ""); err != nil {
		t.Fatal(err)
	}
}

// restartTypes is a store that gives the tasks it creates the restart
// type their id asks for (the submit plumbing of restart types is the
// HTTP surface's).
type restartTypes struct{ store.Store }

func (s restartTypes) Create(ctx context.Context, t *messages.Task) (store.Record, bool, error) {
	for _, r := range []string{"temporary", "permanent"} {
		if strings.Contains(t.GetSpec().GetId(), "-"+r) {
			t.Spec.Restart = r
		}
	}
	return s.Store.Create(ctx, t)
}

// TestJobRestartTypes: a temporary child is never restarted, and its
// failure neither counts nor fails the job; a permanent child is started
// again after it completes, through the budget (issue 20, point 5).
func TestJobRestartTypes(t *testing.T) {
	h := newHarnessWith(t, "", func(s store.Store) store.Store { return restartTypes{s} })
	h.submitSub(scripted("types", "other", 0, 0, `{}`))
	h.running("types-other")
	h.submitSub(scripted("types", "x-temporary", 1, 0, `{"fail_on":[1]}`))
	if st := h.await("types-x-temporary").GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_FAILED || st.GetAttempts() != 1 {
		t.Fatalf("temporary: %v after %d attempts", st.GetState(), st.GetAttempts())
	}
	h.submitSub(scripted("types", "y", 2, 0, `{"complete_on":[1]}`))
	h.await("types-y")
	if st := h.get("types-other").GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_RUNNING || st.GetAttempts() != 1 {
		t.Fatalf("the temporary child's failure reached its sibling: %v attempt %d", st.GetState(), st.GetAttempts())
	}
	if jr, err := h.store.GetJob(context.Background(), "types"); err != nil || jr.Job.GetFailed() {
		t.Fatalf("job: %v, %v; want it running", jr.Job, err)
	}

	h.submitSub(tasks.Submission{ID: "perm-w-permanent", Kind: "scripted", Payload: []byte(`{"complete_on":[1,2,3]}`), JobID: "perm", JobMaxRestarts: 2})
	w := h.await("perm-w-permanent")
	if st := w.GetStatus(); st.GetState() != messages.TaskState_TASK_STATE_FAILED || st.GetAttempts() != 3 || !strings.Contains(st.GetError(), "budget exhausted") {
		t.Fatalf("permanent: %v after %d attempts: %q; want completed three times, restarted twice, then the job gave up", st.GetState(), st.GetAttempts(), st.GetError())
	}
	_, sum, err := h.m.Job(context.Background(), "perm")
	if err != nil || sum.State != api.StateFailed || len(sum.Restarts) != 2 {
		t.Fatalf("job summary %+v, %v", sum, err)
	}
	if _, err := h.m.StopJob(testutil.Context(t, 10*time.Second), "types", ""); err != nil {
		t.Fatal(err)
	}
}

// TestJobOwnerLostMidRestart: the member running a job's supervisor stops
// (it fences itself, as a member cut off from Consul does) in the middle of
// a group restart; another member adopts the job and finishes the restart
// its record holds: every child runs again, started in start order, and the
// restart is counted once (issue 20, durable decisions). The real-process
// kill -9 of the owner is the cluster tests'.
func TestJobOwnerLostMidRestart(t *testing.T) {
	h := newHarness(t, "")
	job := "fo"
	h.submitSub(scripted(job, "a", 0, 2, `{}`))
	h.submitSub(scripted(job, "c", 2, 2, `{"linger_ms":300}`))
	h.running(job + "-a")
	h.running(job + "-c")
	h.submitSub(scripted(job, "b", 1, 2, `{"fail_on":[1],"after_ms":100}`))
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := h.store.GetJob(context.Background(), job)
		return err == nil && jr.Job.GetRun().GetPhase() == "restarting", fmt.Sprintf("job run %v, %v", jr.Job.GetRun(), err)
	})
	// c is being terminated: m1 stops (its attempts cut off, as a kill
	// would) with the restart half done.
	stopCtx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_ = h.m.Stop(stopCtx)
	cancel()

	// m2 shares m1's store (its own, opened aside, goes unused).
	m2, _ := startManager(t, "m2", filepath.Join(t.TempDir(), "unused.db"), func(cfg *tasks.Config) { cfg.Store = h.store })
	if err := m2.AdoptJobs(context.Background(), []string{"m2"}); err != nil {
		t.Fatal(err)
	}
	h.awaitEvents(job, "start fo-a#2", "start fo-b#2", "start fo-c#2")
	starts := slices.DeleteFunc(after(script.of(job), "exit fo-b#1"), func(e string) bool { return !strings.HasPrefix(e, "start") })
	if !slices.Equal(starts, []string{"start fo-a#2", "start fo-b#2", "start fo-c#2"}) {
		t.Fatalf("starts after the failure: %q, want a, b, c once each", starts)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := h.store.GetJob(context.Background(), job)
		run := jr.Job.GetRun()
		return err == nil && run.GetPhase() == "running" && run.GetOwner() == "m2" && run.GetRestartCount() == 1,
			fmt.Sprintf("job run %v, %v", run, err)
	})
	for _, id := range []string{"fo-a", "fo-b", "fo-c"} {
		rec, err := m2.Get(context.Background(), id)
		if st := rec.Task.GetStatus(); err != nil || st.GetState() != messages.TaskState_TASK_STATE_RUNNING || st.GetOwner() != "m2" || st.GetJobHold() != "" {
			t.Fatalf("%s: %v, %v; want running on m2", id, st, err)
		}
	}
	if _, err := m2.StopJob(testutil.Context(t, 10*time.Second), job, ""); err != nil {
		t.Fatal(err)
	}
}

// TestJobGroupRestartOf100 times a one_for_all restart of a 100-task job
// on one member, from the failure to every child running again, the waits
// for the terminated children's exits included (logged; go test -v).
func TestJobGroupRestartOf100(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 100-task job")
	}
	h := newHarness(t, "")
	job := "g100"
	for i := range 99 {
		h.submitSub(scripted(job, fmt.Sprintf("t%02d", i), 0, 1, `{}`))
	}
	for i := range 99 {
		h.running(fmt.Sprintf("%s-t%02d", job, i))
	}
	h.submitSub(scripted(job, "x", 0, 1, `{"fail_on":[1],"after_ms":100}`))
	want := []string{"start g100-x#2"}
	for i := range 99 {
		want = append(want, fmt.Sprintf("start g100-t%02d#2", i))
	}
	h.awaitEvents(job, want...)
	t.Logf("one_for_all restart of 100 tasks on one member (bolt store): %s from the failure to every child running again",
		script.span("exit g100-x#1", want).Round(time.Millisecond))
	jr, err := h.store.GetJob(context.Background(), job)
	if err != nil || jr.Job.GetRun().GetRestartCount() != 1 {
		t.Fatalf("job run %v, %v; want one restart", jr.Job.GetRun(), err)
	}
	for i := range 99 {
		if n := script.mostAtOnce(fmt.Sprintf("%s-t%02d", job, i)); n != 1 {
			t.Fatalf("t%02d ran %d attempts at once", i, n)
		}
	}
	if _, err := h.m.StopJob(testutil.Context(t, time.Minute), job, ""); err != nil {
		t.Fatal(err)
	}
}
