package tasks_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
)

// bigKinds are tasks whose records outgrow what a store holds: one that
// panics on every attempt with a long message (a long error history), one
// whose result is as large as its payload asks, and one whose error text
// is not valid UTF-8.
func bigKinds(t *testing.T) *actors.Registry {
	t.Helper()
	reg := actors.NewRegistry()
	quick := actors.WithSettings(actors.Settings{
		MaxAttempts:    40,
		Backoff:        supervisor.Backoff{Initial: time.Millisecond, Multiplier: 1, Max: time.Millisecond},
		AttemptTimeout: time.Minute,
	})
	for _, k := range []*actors.TaskKind{
		actors.MustTask("panics", func(actors.TaskContext, struct{}) (int, error) { panic(strings.Repeat("a long panic message ", 100)) }, quick),
		actors.MustTask("big_result", func(_ actors.TaskContext, n int) (string, error) { return strings.Repeat("r", n), nil }, quick),
		actors.MustTask("bad_text", func(ctx actors.TaskContext, _ struct{}) (int, error) {
			ctx.Progress(0.5, "half \xff way")
			if ctx.Attempt() < 3 {
				return 0, errors.New("broken \xfe bytes")
			}
			return ctx.Attempt(), nil
		}, quick),
	} {
		if err := reg.RegisterTask(k); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// startWith starts a manager over s with the big kinds and a record limit.
func startWith(t *testing.T, s store.Store, maxRecord int) *tasks.Manager {
	t.Helper()
	cfg := tasks.DefaultConfig("m1")
	cfg.Store, cfg.Registry, cfg.RecoverAll, cfg.MaxRecordBytes = s, bigKinds(t), true, maxRecord
	cfg.Logger = testutil.Logger(t, slog.LevelInfo)
	return startConfigured(t, cfg)
}

// startConfigured starts a manager of cfg, stopped when the test ends.
func startConfigured(t *testing.T, cfg tasks.Config) *tasks.Manager {
	t.Helper()
	m, err := tasks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})
	return m
}

func finished(t *testing.T, m *tasks.Manager, kind, payload string) *messages.TaskStatus {
	t.Helper()
	ctx := testutil.Context(t, 60*time.Second)
	rec, _, err := m.Submit(ctx, tasks.Submission{Kind: kind, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("submit %s: %v", kind, err)
	}
	for !store.Terminal(rec.Task.GetStatus().GetState()) {
		if rec, err = m.Wait(ctx, rec.Task.GetSpec().GetId(), rec.Revision); err != nil {
			t.Fatalf("waiting for %s: %v (last: %v)", kind, err, rec.Task.GetStatus())
		}
	}
	return rec.Task.GetStatus()
}

// TestRecordsAlwaysFit: with a record limit of 16 KiB, a task failing 40
// times with a long panic each (about 2 KiB of message and stack per
// attempt) runs all its attempts and ends failed, its history trimmed
// (without the trim its record outgrows the limit by the 8th attempt and
// its actor crash-loops); a result over the limit fails the task with
// cause result_too_large; texts that are not UTF-8 (which protobuf cannot
// store) are mended; bad labels and reasons are refused at the door.
func TestRecordsAlwaysFit(t *testing.T) {
	s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m := startWith(t, &limitedStore{Store: s, max: 16 << 10}, 16<<10)

	st := finished(t, m, "panics", `{}`)
	if st.GetState() != messages.TaskState_TASK_STATE_FAILED || st.GetAttempts() != 40 || !strings.Contains(st.GetError(), "gave up after 40 attempts") {
		t.Fatalf("panics: %v after %d attempts: %q", st.GetState(), st.GetAttempts(), st.GetError())
	}
	if kept := len(st.GetErrors()); kept+int(st.GetErrorsOmitted()) != 40 || kept >= 40 {
		t.Fatalf("panics: %d errors kept and %d omitted, want 40 in all with some omitted", kept, st.GetErrorsOmitted())
	}

	st = finished(t, m, "big_result", `20000`)
	if st.GetState() != messages.TaskState_TASK_STATE_FAILED || len(st.GetResult()) != 0 || !strings.HasPrefix(st.GetError(), "result_too_large") || st.GetAttempts() != 1 {
		t.Fatalf("big_result: %v after %d attempts, result %d bytes, %q", st.GetState(), st.GetAttempts(), len(st.GetResult()), st.GetError())
	}
	if st := finished(t, m, "big_result", `2000`); st.GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("a result within the limit: %v %q", st.GetState(), st.GetError())
	}

	st = finished(t, m, "bad_text", `{}`)
	if st.GetState() != messages.TaskState_TASK_STATE_COMPLETED || st.GetAttempts() != 3 || !strings.Contains(st.GetErrors()[0].GetMessage(), "broken \uFFFD bytes") {
		t.Fatalf("bad_text: %v after %d attempts, errors %v", st.GetState(), st.GetAttempts(), st.GetErrors())
	}

	ctx := testutil.Context(t, 10*time.Second)
	if _, _, err := m.Submit(ctx, tasks.Submission{Kind: "panics", Payload: []byte(`{}`), Labels: map[string]string{"k": strings.Repeat("v", 2000)}}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a 2000-byte label: %v, want invalid argument", err)
	}
	rec, _, err := m.Submit(ctx, tasks.Submission{Kind: "panics", Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := rec.Task.GetSpec().GetId()
	if _, err := m.Cancel(ctx, id, "bad \xff reason"); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a cancel reason that is not UTF-8: %v, want invalid argument", err)
	}
	if _, err := m.Cancel(ctx, id, strings.Repeat("r", 2000)); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a 2000-byte cancel reason: %v, want invalid argument", err)
	}
	if rec, err := m.Cancel(ctx, id, "enough"); err != nil && !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("a good cancel: %v (%v)", err, rec.Task.GetStatus())
	}
}

// limitedStore refuses records over max bytes, as Consul refuses values
// over its limit.
type limitedStore struct {
	store.Store
	max int
}

func (l *limitedStore) check(t *messages.Task) error {
	if n := proto.Size(t); n > l.max {
		return errors.New("value too large for the store")
	}
	return nil
}

func (l *limitedStore) Create(ctx context.Context, t *messages.Task) (store.Record, bool, error) {
	if err := l.check(t); err != nil {
		return store.Record{}, false, err
	}
	return l.Store.Create(ctx, t)
}

func (l *limitedStore) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	if err := l.check(t); err != nil {
		return store.Record{}, err
	}
	return l.Store.Update(ctx, t, rev)
}

// TestResultTooLargeForConsul: on Consul's own limits (512 KiB transaction
// bodies, values in base64), a task whose result would take its record
// past them fails with cause result_too_large, once, instead of
// crash-looping on a refused write; one just within them completes.
func TestResultTooLargeForConsul(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s, err := consulstore.New(agent.Client(), consulstore.DefaultConfig("limits"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m := startWith(t, s, tasks.MaxRecordBytes)
	st := finished(t, m, "big_result", `600000`)
	if st.GetState() != messages.TaskState_TASK_STATE_FAILED || !strings.HasPrefix(st.GetError(), "result_too_large") || st.GetAttempts() != 1 {
		t.Fatalf("a 600 KB result: %v after %d attempts: %q", st.GetState(), st.GetAttempts(), st.GetError())
	}
	if st := finished(t, m, "big_result", `360000`); st.GetState() != messages.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("a 360 KB result: %v %q", st.GetState(), st.GetError())
	}
}

// spyStore fails the test when any id that is not a valid task id reaches
// the store.
type spyStore struct {
	store.Store
	t *testing.T
}

func (s spyStore) Get(ctx context.Context, id string) (store.Record, error) {
	if !api.ValidID(id) {
		s.t.Errorf("the store was asked for %q", id)
	}
	return s.Store.Get(ctx, id)
}

// TestBadIDsNeverReachTheStore: an id no task can have ("../evil", a
// space, 200 bytes) is refused as an invalid argument by every read and
// control, before the store (Consul refuses such keys as a failure, which
// clients would retry).
func TestBadIDsNeverReachTheStore(t *testing.T) {
	s, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m := startWith(t, spyStore{Store: s, t: t}, tasks.MaxRecordBytes)
	ctx := testutil.Context(t, 10*time.Second)
	for _, id := range []string{"../evil/id", "a b", strings.Repeat("x", 200), "", "\xff"} {
		if _, err := m.Get(ctx, id); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("Get(%q) = %v", id, err)
		}
		if _, err := m.Wait(ctx, id, 0); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("Wait(%q) = %v", id, err)
		}
		if _, err := m.Cancel(ctx, id, ""); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("Cancel(%q) = %v", id, err)
		}
		if _, err := m.Restart(ctx, id, "", ""); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("Restart(%q) = %v", id, err)
		}
		if _, _, err := m.Job(ctx, id); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("Job(%q) = %v", id, err)
		}
	}
}
