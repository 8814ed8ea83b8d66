package tasks

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testutil"
	"google.golang.org/protobuf/proto"
)

// jobReadCounter counts the job records that listings of job records
// return, and their bytes.
type jobReadCounter struct {
	store.Store
	records, bytes atomic.Int64
}

func (s *jobReadCounter) count(recs []store.JobRecord) {
	for _, r := range recs {
		s.records.Add(1)
		s.bytes.Add(int64(proto.Size(r.Job)))
	}
}

func (s *jobReadCounter) reset() { s.records.Store(0); s.bytes.Store(0) }

func (s *jobReadCounter) ListJobs(ctx context.Context) ([]store.JobRecord, error) {
	recs, err := s.Store.ListJobs(ctx)
	s.count(recs)
	return recs, err
}

func (s *jobReadCounter) ListChildJobs(ctx context.Context, parent string) ([]store.JobRecord, error) {
	recs, err := s.Store.ListChildJobs(ctx, parent)
	s.count(recs)
	return recs, err
}

// TestJobSupervisionReadsItsSubtreeOnly: with 200 unrelated jobs stored,
// a job's load, its stop (its supervisor's load and sweep, its child
// jobs' too) and the drawing of its tree read the records of its own
// child jobs, not every job's. Old code: each load and each sweep read all
// 203 records (over 1,000 for the stop).
func TestJobSupervisionReadsItsSubtreeOnly(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	cs := &jobReadCounter{Store: openJobTestStore(t)}
	storetest.PutUnrelatedJobs(t, cs.Store, 200, 64)
	m := startJobTestManager(t, ctx, cs, "m1")
	for _, d := range []JobDeclaration{{ID: "root"}, {ID: "kid-1", Parent: "root", Stage: 1}, {ID: "kid-2", Parent: "root", Stage: 2}} {
		if _, _, err := m.DeclareJob(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	const children = 2

	cs.reset()
	kids, err := m.childJobs(ctx, "root")
	if err != nil || len(kids) != children {
		t.Fatalf("the root's child jobs = %d, %v; want %d", len(kids), err, children)
	}
	if got := cs.records.Load(); got != children {
		t.Fatalf("a load of the root read %d job records (%d bytes); want its %d children's", got, cs.bytes.Load(), children)
	}

	cs.reset()
	if jr, err := m.StopJob(ctx, "root", "test"); err != nil || !jobEnded(jr) {
		t.Fatalf("StopJob = %v, %v; want the root ended", jr.Job.GetRun().GetPhase(), err)
	}
	// The root's load and sweep read its children; the children's own
	// loads and sweeps read none. A load may happen again (a stop sent
	// again), so allow a few rounds, far from the 203 of one scan.
	t.Logf("stopping the root read %d job records (%d bytes)", cs.records.Load(), cs.bytes.Load())
	if got := cs.records.Load(); got > 5*children {
		t.Fatalf("stopping the root read %d job records (%d bytes); want at most %d", got, cs.bytes.Load(), 5*children)
	}

	cs.reset()
	tree, err := m.JobTree(ctx, "root")
	if err != nil || tree.Jobs != 1+children {
		t.Fatalf("JobTree(root) = %d jobs, %v; want %d", tree.Jobs, err, 1+children)
	}
	if got := cs.records.Load(); got != children {
		t.Fatalf("drawing the root's tree read %d job records; want its %d children's", got, children)
	}
}
