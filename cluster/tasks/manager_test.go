package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

type untilIn struct {
	Succeed int `json:"succeed_on"`
}

// testKinds are handlers for each failure path.
func testKinds(t *testing.T) *actors.Registry {
	t.Helper()
	reg := actors.NewRegistry()
	fast := actors.WithSettings(actors.Settings{
		MaxAttempts:    3,
		Backoff:        supervisor.Backoff{Initial: time.Millisecond, Multiplier: 2, Max: 10 * time.Millisecond, Jitter: supervisor.JitterNone},
		AttemptTimeout: time.Minute,
	})
	must := func(k *actors.TaskKind, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
	must(actors.NewTask("ok", func(_ actors.TaskContext, p []byte) ([]byte, error) { return p, nil }, fast))
	must(actors.Task("flaky", func(ctx actors.TaskContext, in untilIn) (int, error) {
		if ctx.Attempt() < in.Succeed {
			return 0, fmt.Errorf("transient failure on attempt %d", ctx.Attempt())
		}
		return ctx.Attempt(), nil
	}, fast))
	must(actors.NewTask("perm", func(actors.TaskContext, []byte) ([]byte, error) {
		return nil, fmt.Errorf("wrapped: %w", actors.Permanentf("bad record"))
	}, fast))
	must(actors.NewTask("boom", func(actors.TaskContext, []byte) ([]byte, error) { panic("boom") }, fast))
	must(actors.Task("hang", func(ctx actors.TaskContext, in untilIn) (int, error) {
		if ctx.Attempt() < in.Succeed {
			select {} // ignores its context on purpose
		}
		return ctx.Attempt(), nil
	}, fast, actors.WithAttemptTimeout(50*time.Millisecond)))
	must(actors.NewTask("silent", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		ctx.Heartbeat()
		<-ctx.Done() // stops heartbeating, waits to be cancelled
		return nil, ctx.Err()
	}, fast, actors.WithHeartbeatTimeout(50*time.Millisecond)))
	// first_blocks blocks its first attempt until it is stopped, then
	// succeeds: a task that completes once its job restarts it.
	must(actors.NewTask("first_blocks", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		if ctx.Attempt() == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return []byte(`"done"`), nil
	}, fast))
	must(actors.NewTask("slow", func(ctx actors.TaskContext, _ []byte) ([]byte, error) {
		ctx.Progress(0.5, "half way")
		<-ctx.Done()
		return nil, ctx.Err()
	}, fast))
	registerScripted(t, reg)
	registerFanout(t, reg)
	registerDepends(t, reg)
	return reg
}

type harness struct {
	t     *testing.T
	m     *tasks.Manager
	store store.Store
	path  string
	mu    sync.Mutex
	runs  map[string]int // attempts started per task
}

func newHarness(t *testing.T, path string) *harness {
	t.Helper()
	return newHarnessWith(t, path, nil)
}

// newHarnessWith is newHarness with the manager's store wrapped by wrap
// (nil: as it is), for tests that interleave store operations.
func newHarnessWith(t *testing.T, path string, wrap func(store.Store) store.Store) *harness {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "tasks.db")
	}
	s, err := boltstore.Open(boltstore.DefaultConfig(path))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: s, path: path, runs: map[string]int{}}
	cfg := tasks.DefaultConfig("m1")
	cfg.Store, cfg.Registry, cfg.RecoverAll = s, testKinds(t), true
	if wrap != nil {
		cfg.Store = wrap(s)
	}
	cfg.Logger = testutil.Logger(t, slog.LevelDebug)
	cfg.Events.AttemptStarted = func(id string, _ int) { h.mu.Lock(); h.runs[id]++; h.mu.Unlock() }
	h.m, err = tasks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = h.m.Stop(ctx)
	_ = h.store.Close()
}

func (h *harness) submit(kind, payload string, o actors.Overrides) string {
	h.t.Helper()
	rec, created, err := h.m.Submit(testutil.Context(h.t, 10*time.Second), tasks.Submission{Kind: kind, Payload: []byte(payload), Overrides: o})
	if err != nil || !created {
		h.t.Fatalf("Submit(%s, %s) = created %v, %v", kind, payload, created, err)
	}
	return rec.Task.GetSpec().GetId()
}

// await waits for a terminal state and returns the task.
func (h *harness) await(id string) *messages.Task {
	h.t.Helper()
	ctx := testutil.Context(h.t, 20*time.Second)
	var after uint64
	for {
		rec, err := h.m.Wait(ctx, id, after)
		if err != nil {
			h.t.Fatalf("Wait(%s): %v", id, err)
		}
		if store.Terminal(rec.Task.GetStatus().GetState()) {
			return rec.Task
		}
		if ctx.Err() != nil {
			h.t.Fatalf("task %s not finished in time: %v", id, rec.Task.GetStatus())
		}
		after = rec.Revision
	}
}

func TestFailurePaths(t *testing.T) {
	h := newHarness(t, "")
	cases := []struct {
		kind, payload string
		state         messages.TaskState
		attempts      int
		causes        []string
		errContains   string
	}{
		{"ok", `{"v":1}`, messages.TaskState_TASK_STATE_COMPLETED, 1, nil, ""},
		{"flaky", `{"succeed_on":3}`, messages.TaskState_TASK_STATE_COMPLETED, 3, []string{"error", "error"}, ""},
		{"flaky", `{"succeed_on":9}`, messages.TaskState_TASK_STATE_FAILED, 3, []string{"error", "error", "error"}, "gave up after 3 attempts"},
		{"perm", ``, messages.TaskState_TASK_STATE_FAILED, 1, []string{"error"}, "permanent error on attempt 1"},
		{"boom", ``, messages.TaskState_TASK_STATE_FAILED, 3, []string{"panic", "panic", "panic"}, "panic: boom"},
		{"hang", `{"succeed_on":2}`, messages.TaskState_TASK_STATE_COMPLETED, 2, []string{"attempt_timeout"}, ""},
		{"silent", ``, messages.TaskState_TASK_STATE_FAILED, 3, []string{"heartbeat_timeout", "heartbeat_timeout", "heartbeat_timeout"}, "no heartbeat"},
	}
	for _, c := range cases {
		t.Run(c.kind+c.payload, func(t *testing.T) {
			task := h.await(h.submit(c.kind, c.payload, actors.Overrides{}))
			st := task.GetStatus()
			var causes []string
			for _, e := range st.GetErrors() {
				causes = append(causes, e.GetCause())
			}
			if st.GetState() != c.state || int(st.GetAttempts()) != c.attempts || fmt.Sprint(causes) != fmt.Sprint(c.causes) {
				t.Fatalf("got %s after %d attempts, causes %v; want %s after %d, causes %v (error %q)",
					st.GetState(), st.GetAttempts(), causes, c.state, c.attempts, c.causes, st.GetError())
			}
			if !strings.Contains(st.GetError(), c.errContains) {
				t.Fatalf("error %q does not say %q", st.GetError(), c.errContains)
			}
			// Each failed attempt keeps where it ran and its start and end,
			// in order: the console draws its timeline from them.
			var prevEnd time.Time
			for _, e := range st.GetErrors() {
				start, end := e.GetStartedAt().AsTime(), e.GetAt().AsTime()
				if e.GetStartedAt() == nil || e.GetMember() != "m1" || end.Before(start) || start.Before(prevEnd) {
					t.Fatalf("attempt %d: member %q, started %v, ended %v (previous ended %v)", e.GetAttempt(), e.GetMember(), e.GetStartedAt(), end, prevEnd)
				}
				prevEnd = end
			}
			if c.kind == "boom" && !strings.Contains(st.GetErrors()[0].GetStack(), "goroutine") {
				t.Fatalf("panic entry has no stack: %q", st.GetErrors()[0].GetStack())
			}
			if st.GetEpoch() != 1 || st.GetOwner() != "m1" {
				t.Fatalf("epoch %d owner %q, want 1 and m1", st.GetEpoch(), st.GetOwner())
			}
		})
	}
}

func TestResultIsCommitted(t *testing.T) {
	h := newHarness(t, "")
	task := h.await(h.submit("flaky", `{"succeed_on":2}`, actors.Overrides{}))
	if got := string(task.GetStatus().GetResult()); got != "2" {
		t.Fatalf("result %q, want 2 (the attempt that succeeded)", got)
	}
}

func TestDeadlineStopsRetries(t *testing.T) {
	h := newHarness(t, "")
	dl := 120 * time.Millisecond
	max := 100
	task := h.await(h.submit("hang", `{"succeed_on":1000}`, actors.Overrides{ScheduleToClose: &dl, MaxAttempts: &max}))
	if task.GetStatus().GetState() != messages.TaskState_TASK_STATE_FAILED || !strings.Contains(task.GetStatus().GetError(), "deadline") {
		t.Fatalf("got %s %q, want failed by deadline", task.GetStatus().GetState(), task.GetStatus().GetError())
	}
}

func TestCancelStopsRunningAttempt(t *testing.T) {
	h := newHarness(t, "")
	id := h.submit("slow", ``, actors.Overrides{})
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		rec, err := h.m.Get(context.Background(), id)
		return err == nil && rec.Task.GetStatus().GetProgressNote() == "half way", fmt.Sprintf("status %v, %v", rec.Task.GetStatus(), err)
	})
	rec, err := h.m.Cancel(testutil.Context(t, 10*time.Second), id, "")
	if err != nil || rec.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_CANCELLED {
		t.Fatalf("Cancel = %v, %v; want cancelled", rec.Task.GetStatus(), err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return h.m.Running() == 0, fmt.Sprintf("%d attempts still running", h.m.Running())
	})
	if _, err := h.m.Cancel(context.Background(), id, ""); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("second Cancel error = %v, want ErrFailedPrecondition", err)
	}
}

func TestSubmitIsIdempotent(t *testing.T) {
	h := newHarness(t, "")
	ctx := testutil.Context(t, 10*time.Second)
	sub := tasks.Submission{ID: "same", Kind: "ok", Payload: []byte(`1`)}
	first, created, err := h.m.Submit(ctx, sub)
	if err != nil || !created {
		t.Fatalf("first Submit: %v %v", created, err)
	}
	again, created, err := h.m.Submit(ctx, sub)
	if err != nil || created || again.Task.GetSpec().GetId() != first.Task.GetSpec().GetId() {
		t.Fatalf("second Submit = created %v, %v; want the same task", created, err)
	}
	sub.Payload = []byte(`2`)
	if _, _, err := h.m.Submit(ctx, sub); !errors.Is(err, api.ErrAlreadyExists) {
		t.Fatalf("Submit with another payload under the same id: %v, want ErrAlreadyExists", err)
	}
	h.await("same")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.runs["same"] != 1 {
		t.Fatalf("task ran %d times, want 1", h.runs["same"])
	}
}

func TestBadInputStoresNothing(t *testing.T) {
	h := newHarness(t, "")
	zero, neg := 0, -time.Second
	cases := []struct {
		name string
		sub  tasks.Submission
		want string
	}{
		{"unknown kind", tasks.Submission{Kind: "nope"}, `unknown kind "nope"`},
		{"no kind", tasks.Submission{}, "kind is required"},
		{"payload type", tasks.Submission{Kind: "flaky", Payload: []byte(`{"succeed_on":"x"}`)}, "invalid payload"},
		{"unknown field", tasks.Submission{Kind: "flaky", Payload: []byte(`{"suceed_on":1}`)}, "unknown field"},
		{"max attempts", tasks.Submission{Kind: "ok", Overrides: actors.Overrides{MaxAttempts: &zero}}, "max_attempts must be at least 1"},
		{"negative timeout", tasks.Submission{Kind: "ok", Overrides: actors.Overrides{AttemptTimeout: &neg}}, "attempt_timeout must not be negative"},
		{"bad id", tasks.Submission{ID: "a/b", Kind: "ok"}, "task id"},
	}
	for _, c := range cases {
		_, _, err := h.m.Submit(context.Background(), c.sub)
		if !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrInvalidArgument saying %q", c.name, err, c.want)
		}
	}
	recs, err := h.m.List(context.Background())
	if err != nil || len(recs) != 0 {
		t.Fatalf("store holds %d tasks after bad submissions (%v), want 0", len(recs), err)
	}
}

// TestResumesAfterRestart stops a manager mid-attempt without draining (as
// a crash would leave the store) and starts another on the same store: the
// interrupted attempt counts as lost, the task completes, and a completed
// task does not run again.
func TestResumesAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	h := newHarness(t, path)
	done := h.submit("ok", `1`, actors.Overrides{})
	h.await(done)
	id := h.submit("hang", `{"succeed_on":2}`, actors.Overrides{AttemptTimeout: ptr(time.Hour)})
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return h.m.Running() == 1, "attempt not running yet"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = h.m.Stop(ctx) // drain cut short: the attempt stays "running" in the store
	_ = h.store.Close()

	h2 := newHarness(t, path)
	task := h2.await(id)
	st := task.GetStatus()
	if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || st.GetAttempts() != 2 || st.GetEpoch() != 2 {
		t.Fatalf("after restart: %s, %d attempts, epoch %d; want completed, 2, 2", st.GetState(), st.GetAttempts(), st.GetEpoch())
	}
	if len(st.GetErrors()) != 1 || st.GetErrors()[0].GetCause() != "member_lost" {
		t.Fatalf("errors %v, want one member_lost", st.GetErrors())
	}
	h2.mu.Lock()
	defer h2.mu.Unlock()
	if h2.runs[done] != 0 {
		t.Fatalf("completed task ran %d times after restart, want 0", h2.runs[done])
	}
}

func ptr[T any](v T) *T { return &v }

func TestRetentionDeletesOldFinishedTasks(t *testing.T) {
	h := newHarness(t, "")
	old := h.submit("ok", `1`, actors.Overrides{})
	h.await(old)
	running := h.submit("slow", ``, actors.Overrides{})
	recs, err := h.store.List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(8 * 24 * time.Hour)
	expired := tasks.Expired(recs, later, 7*24*time.Hour)
	if len(expired) != 1 || expired[0].Task.GetSpec().GetId() != old {
		t.Fatalf("expired %d tasks, want only the finished one", len(expired))
	}
	if got := tasks.Expired(recs, time.Now(), 7*24*time.Hour); len(got) != 0 {
		t.Fatalf("%d tasks expired right after finishing", len(got))
	}
	if err := h.store.Delete(context.Background(), old, expired[0].Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Get(context.Background(), running); err != nil {
		t.Fatalf("the running task went with the sweep: %v", err)
	}
}

func (h *harness) submitJob(id, kind, job, strategy string, stage int) {
	h.t.Helper()
	_, _, err := h.m.Submit(testutil.Context(h.t, 10*time.Second), tasks.Submission{ID: id, Kind: kind, JobID: job, JobStrategy: strategy, JobStage: stage})
	if err != nil {
		h.t.Fatalf("Submit(%s in job %s): %v", id, job, err)
	}
}

func (h *harness) running(id string) {
	h.t.Helper()
	testutil.Eventually(h.t, 10*time.Second, func() (bool, string) {
		rec, err := h.m.Get(context.Background(), id)
		return err == nil && rec.Task.GetStatus().GetState() == messages.TaskState_TASK_STATE_RUNNING, fmt.Sprintf("%s not running (%v)", id, err)
	})
}

// TestJobStrategies: a task of a job failing for good fails the job, and
// a job that gives up terminates every child whatever its strategy, as
// OTP's supervisor does (issue 20, point 1: one_for_one and rest_for_one
// used to leave the other tasks running).
func TestJobStrategies(t *testing.T) {
	h := newHarness(t, "")
	cases := []struct {
		strategy string
		stopped  []bool // for the tasks at stages 0 and 2 (stage 1 fails)
	}{
		{"one_for_one", []bool{true, true}},
		{"one_for_all", []bool{true, true}},
		{"rest_for_one", []bool{true, true}},
	}
	for _, c := range cases {
		t.Run(c.strategy, func(t *testing.T) {
			job := "job-" + c.strategy
			first, last := job+"-0", job+"-2"
			h.submitJob(first, "slow", job, c.strategy, 0)
			h.submitJob(last, "slow", job, c.strategy, 2)
			h.running(first)
			h.running(last)
			h.submitJob(job+"-1", "perm", job, c.strategy, 1)
			h.await(job + "-1")
			for i, id := range []string{first, last} {
				if c.stopped[i] {
					task := h.await(id)
					if task.GetStatus().GetState() != messages.TaskState_TASK_STATE_CANCELLED || !strings.Contains(task.GetStatus().GetError(), "job "+job+" failed") {
						t.Fatalf("%s: %s %q; want cancelled by the job's failure", id, task.GetStatus().GetState(), task.GetStatus().GetError())
					}
					continue
				}
				rec, err := h.m.Get(context.Background(), id)
				if err != nil || rec.Task.GetStatus().GetState() != messages.TaskState_TASK_STATE_RUNNING {
					t.Fatalf("%s: %v (%v); want still running", id, rec.Task.GetStatus().GetState(), err)
				}
			}
			_, sum, err := h.m.Job(context.Background(), job)
			if err != nil || sum.State != api.StateFailed || !strings.Contains(sum.Cause, job+"-1 failed: permanent error") || sum.Strategy != c.strategy {
				t.Fatalf("job summary %+v, %v", sum, err)
			}
			_, _, err = h.m.Submit(context.Background(), tasks.Submission{ID: job + "-3", Kind: "ok", JobID: job, JobStrategy: c.strategy})
			if !errors.Is(err, api.ErrFailedPrecondition) {
				t.Fatalf("submit to a failed job: %v, want ErrFailedPrecondition", err)
			}
		})
	}
	if _, _, err := h.m.Submit(context.Background(), tasks.Submission{Kind: "ok", JobID: "job-one_for_all", JobStrategy: "rest_for_one"}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("submit with another strategy than the job's: %v, want ErrInvalidArgument", err)
	}
	if _, _, err := h.m.Submit(context.Background(), tasks.Submission{Kind: "ok", JobStrategy: "one_for_all"}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a strategy without a job: %v, want ErrInvalidArgument", err)
	}
	if _, _, err := h.m.Job(context.Background(), "no-such-job"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Job(unknown): %v, want ErrNotFound", err)
	}
}

func TestJobCompletes(t *testing.T) {
	h := newHarness(t, "")
	for i := 0; i < 3; i++ {
		h.submitJob(fmt.Sprintf("jc-%d", i), "ok", "jc", "one_for_all", 0)
	}
	for i := 0; i < 3; i++ {
		h.await(fmt.Sprintf("jc-%d", i))
	}
	_, sum, err := h.m.Job(context.Background(), "jc")
	if err != nil || sum.State != api.StateCompleted || sum.Counts[api.StateCompleted] != 3 {
		t.Fatalf("job summary %+v, %v", sum, err)
	}
}
