package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/schedule"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type world struct {
	st  *boltstore.Store
	mgr *tasks.Manager
	svc *schedule.Service
}

func newWorld(t *testing.T, edit func(*schedule.Config)) *world {
	t.Helper()
	st, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db")))
	if err != nil {
		t.Fatal(err)
	}
	reg := actors.NewRegistry()
	k, err := actors.NewTask("ok", func(_ actors.TaskContext, p []byte) ([]byte, error) { return p, nil })
	if err == nil {
		err = reg.RegisterTask(k)
	}
	if err != nil {
		t.Fatal(err)
	}
	tcfg := tasks.DefaultConfig("m1")
	tcfg.Store, tcfg.Registry, tcfg.RecoverAll = st, reg, true
	tcfg.Logger = testutil.Logger(t, slog.LevelInfo)
	mgr, err := tasks.New(tcfg)
	if err == nil {
		err = mgr.Start(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := schedule.DefaultConfig("m1")
	cfg.Store, cfg.Tasks, cfg.Registry, cfg.Logger = st, mgr, reg, tcfg.Logger
	cfg.Rescan = 100 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	svc, err := schedule.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = mgr.Stop(ctx)
		_ = st.Close()
	})
	return &world{st: st, mgr: mgr, svc: svc}
}

func everySecond(id string, overlap messages.Overlap) *messages.Schedule {
	return &messages.Schedule{Id: id, Cron: "@every 1s", Overlap: overlap, Template: &messages.TaskTemplate{Kind: "ok", Payload: []byte(`1`)}}
}

// runs returns the runs of a schedule stored so far, by slot.
func (w *world) runs(t *testing.T, id string) []store.Record {
	t.Helper()
	recs, err := w.mgr.Find(testutil.Context(t, 10*time.Second), store.Filter{Labels: map[string]string{schedule.LabelSchedule: id}})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestServiceFiresEverySlotOnce: a schedule of every second under allow
// runs one task per slot, consecutive slots, ids derived from them.
func TestServiceFiresEverySlotOnce(t *testing.T) {
	w := newWorld(t, nil)
	ctx := testutil.Context(t, 20*time.Second)
	if _, created, err := w.svc.Put(ctx, everySecond("tick", messages.Overlap_OVERLAP_ALLOW)); err != nil || !created {
		t.Fatalf("Put = %v, %v", created, err)
	}
	w.svc.Start()
	testutil.Eventually(t, 15*time.Second, func() (bool, string) {
		n := len(w.runs(t, "tick"))
		return n >= 3, fmt.Sprintf("%d runs so far", n)
	})
	w.svc.Stop()
	rec, err := w.svc.Get(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	runs := w.runs(t, "tick")
	if int64(len(runs)) != rec.Schedule.GetRuns() {
		t.Fatalf("%d runs stored, the schedule counts %d", len(runs), rec.Schedule.GetRuns())
	}
	var prev time.Time
	for _, r := range runs {
		slot := r.Task.GetSpec().GetScheduleSlot().AsTime()
		if r.Task.GetSpec().GetId() != schedule.RunID("tick", slot) || r.Task.GetSpec().GetScheduleId() != "tick" {
			t.Fatalf("run %s of slot %v: want id %s", r.Task.GetSpec().GetId(), slot, schedule.RunID("tick", slot))
		}
		if !prev.IsZero() && !slot.Equal(prev.Add(time.Second)) {
			t.Fatalf("slots %v then %v: a run lost or doubled", prev, slot)
		}
		prev = slot
	}
}

// TestServiceFinishesAFiringLeftHalfway: a member that wrote its decision
// and died before submitting the runs leaves them in the record; the next
// firing submits them (once: their ids are the slots').
func TestServiceFinishesAFiringLeftHalfway(t *testing.T) {
	w := newWorld(t, nil)
	ctx := testutil.Context(t, 20*time.Second)
	rec, _, err := w.svc.Put(ctx, &messages.Schedule{Id: "left", Cron: "@daily", Overlap: messages.Overlap_OVERLAP_SKIP,
		Template: &messages.TaskTemplate{Kind: "ok", Payload: []byte(`2`)}})
	if err != nil {
		t.Fatal(err)
	}
	slot := time.Now().Add(-time.Minute).Truncate(time.Second)
	left := proto.Clone(rec.Schedule).(*messages.Schedule)
	left.Firing, left.LastRun, left.Runs = []*timestamppb.Timestamp{timestamppb.New(slot)}, schedule.RunID("left", slot), 1
	if _, err := w.st.PutSchedule(ctx, left, rec.Revision); err != nil {
		t.Fatal(err)
	}
	w.svc.Start()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := w.svc.Get(ctx, "left")
		return err == nil && len(got.Schedule.GetFiring()) == 0, "firing list not cleared"
	})
	runs := w.runs(t, "left")
	if len(runs) != 1 || runs[0].Task.GetSpec().GetId() != schedule.RunID("left", slot) {
		t.Fatalf("runs %v, want the one left halfway, %s", runs, schedule.RunID("left", slot))
	}
}

// TestServiceOverlapSkip: under skip, a slot due while the last run has
// not finished runs nothing and is counted.
func TestServiceOverlapSkip(t *testing.T) {
	w := newWorld(t, nil)
	ctx := testutil.Context(t, 20*time.Second)
	// The last run is a task that will not start for an hour: busy.
	busy, _, err := w.mgr.Submit(ctx, tasks.Submission{ID: "busy", Kind: "ok", Payload: []byte(`1`), StartAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := w.svc.Put(ctx, everySecond("skipper", messages.Overlap_OVERLAP_SKIP))
	if err != nil {
		t.Fatal(err)
	}
	n := proto.Clone(rec.Schedule).(*messages.Schedule)
	n.LastRun = busy.Task.GetSpec().GetId()
	if _, err := w.st.PutSchedule(ctx, n, rec.Revision); err != nil {
		t.Fatal(err)
	}
	w.svc.Start()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got, err := w.svc.Get(ctx, "skipper")
		return err == nil && got.Schedule.GetSkipped() >= 2, "not skipping"
	})
	if runs := w.runs(t, "skipper"); len(runs) != 0 {
		t.Fatalf("%d runs started alongside a busy one under skip", len(runs))
	}
}

// TestPutBadInputChangesNothing: a bad schedule is refused (invalid
// argument) and stores nothing; a bad change leaves the schedule as it was.
func TestPutBadInputChangesNothing(t *testing.T) {
	w := newWorld(t, nil)
	ctx := testutil.Context(t, 20*time.Second)
	good := everySecond("good", messages.Overlap_OVERLAP_SKIP)
	before, _, err := w.svc.Put(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(s *messages.Schedule){
		"bad id":         func(s *messages.Schedule) { s.Id = "-bad/id" },
		"long id":        func(s *messages.Schedule) { s.Id = string(make([]byte, 101)) },
		"bad cron":       func(s *messages.Schedule) { s.Cron = "61 * * * *" },
		"bad zone":       func(s *messages.Schedule) { s.TimeZone = "Mars/Olympus" },
		"no overlap":     func(s *messages.Schedule) { s.Overlap = 0 },
		"unknown kind":   func(s *messages.Schedule) { s.Template.Kind = "nope" },
		"no kind":        func(s *messages.Schedule) { s.Template.Kind = "" },
		"huge catch-up":  func(s *messages.Schedule) { s.CatchupWindow = durationOf(30 * 24 * time.Hour) },
		"bad max tries":  func(s *messages.Schedule) { s.Template.MaxAttempts = -3 },
		"sub-second":     func(s *messages.Schedule) { s.Cron = "@every 100ms" },
		"never fires":    func(s *messages.Schedule) { s.Cron = "0 0 30 2 *" },
		"local zone tag": func(s *messages.Schedule) { s.TimeZone = "Local" },
	}
	for name, edit := range bad {
		s := proto.Clone(good).(*messages.Schedule)
		edit(s)
		if _, _, err := w.svc.Put(ctx, s); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("%s: Put = %v, want ErrInvalidArgument", name, err)
		}
	}
	all, err := w.svc.List(ctx)
	if err != nil || len(all) != 1 || all[0].Revision != before.Revision {
		t.Fatalf("after bad puts: %v, %v; want the good schedule unchanged at %d", all, err, before.Revision)
	}
	if _, err := w.svc.Get(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Get of a missing schedule = %v, want ErrNotFound", err)
	}
	if _, err := w.svc.Delete(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("Delete of a missing schedule = %v, want ErrNotFound", err)
	}
}

// TestPauseResume: a paused schedule fires nothing; resumed, it starts from
// the resume, not catching up the paused time.
func TestPauseResume(t *testing.T) {
	w := newWorld(t, nil)
	ctx := testutil.Context(t, 20*time.Second)
	s := everySecond("p", messages.Overlap_OVERLAP_ALLOW)
	s.Paused = true
	if _, _, err := w.svc.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	w.svc.Start()
	time.Sleep(1500 * time.Millisecond) // a paused schedule's slots pass: nothing may run
	if runs := w.runs(t, "p"); len(runs) != 0 {
		t.Fatalf("a paused schedule ran %d times", len(runs))
	}
	resumed := time.Now()
	rec, err := w.svc.SetPaused(ctx, "p", false)
	if err != nil || rec.Schedule.GetPaused() {
		t.Fatalf("resume = %v, %v", rec.Schedule, err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) { return len(w.runs(t, "p")) > 0, "no run after resume" })
	for _, r := range w.runs(t, "p") {
		if slot := r.Task.GetSpec().GetScheduleSlot().AsTime(); slot.Before(resumed.Truncate(time.Second)) {
			t.Fatalf("run of slot %v, before the resume at %v: paused time caught up", slot, resumed)
		}
	}
}

func durationOf(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
