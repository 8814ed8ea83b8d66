package tasks

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
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

// storeUnrelatedJobs stores n jobs that have nothing to do with the job
// under test, half of them children of another root, each with a restart
// whose error is pad bytes long.
func storeUnrelatedJobs(t testing.TB, s store.Store, n, pad int) {
	t.Helper()
	ctx := context.Background()
	restart := []*messages.JobRestart{{Task: "t", Error: strings.Repeat("x", pad)}}
	for i := range n {
		j := &messages.Job{Id: fmt.Sprintf("other-%05d", i), Strategy: "one_for_one", Restarts: restart}
		if i%2 == 1 {
			j.Parent = "other-00000"
		}
		if _, err := s.PutJob(ctx, j, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJobSupervisionReadsItsSubtreeOnly: with 200 unrelated jobs stored,
// a job's load, its stop (its supervisor's load and sweep, its child
// jobs' too) and the drawing of its tree read the records of its own
// child jobs, not every job's. Old code: each load and each sweep read all
// 203 records (over 1,000 for the stop).
func TestJobSupervisionReadsItsSubtreeOnly(t *testing.T) {
	ctx := testutil.Context(t, 60*time.Second)
	cs := &jobReadCounter{Store: openJobTestStore(t)}
	storeUnrelatedJobs(t, cs.Store, 200, 64)
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

// BenchmarkJobLoadChildJobs: the job records (and bytes) a job's load
// reads to find its 2 child jobs with 10,000 other jobs stored (boltstore),
// through the index (ListChildJobs) and by the scan the load made before
// it (ListJobs, then its children picked).
func BenchmarkJobLoadChildJobs(b *testing.B) {
	bs, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(b.TempDir(), "tasks.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bs.Close() })
	s := &jobReadCounter{Store: bs}
	storeUnrelatedJobs(b, s.Store, 10_000, 256)
	ctx := context.Background()
	for _, id := range []string{"kid-1", "kid-2"} {
		if _, err := s.Store.PutJob(ctx, &messages.Job{Id: id, Parent: "root"}, 0); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		load func() (int, error)
	}{
		{"index", func() (int, error) { kids, err := s.ListChildJobs(ctx, "root"); return len(kids), err }},
		{"scan", func() (int, error) {
			all, err := s.ListJobs(ctx)
			n := 0
			for _, j := range all {
				if j.Job.GetParent() == "root" {
					n++
				}
			}
			return n, err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s.reset()
			for b.Loop() {
				if n, err := bc.load(); err != nil || n != 2 {
					b.Fatalf("%d children, %v", n, err)
				}
			}
			b.ReportMetric(float64(s.records.Load())/float64(b.N), "records/op")
			b.ReportMetric(float64(s.bytes.Load())/float64(b.N), "recordbytes/op")
		})
	}
}
