package tasks_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
)

// jobBytes is a store that counts the bytes of one job's record written
// and read.
type jobBytes struct {
	store.Store
	job string

	mu                     sync.Mutex
	put, puts, read, reads int
	largest                int
}

func (s *jobBytes) PutJob(ctx context.Context, j *messages.Job, rev uint64) (store.JobRecord, error) {
	if j.GetId() == s.job {
		n := proto.Size(j)
		s.mu.Lock()
		s.put, s.puts, s.largest = s.put+n, s.puts+1, max(s.largest, n)
		s.mu.Unlock()
	}
	return s.Store.PutJob(ctx, j, rev)
}

func (s *jobBytes) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	jr, err := s.Store.GetJob(ctx, id)
	if id == s.job && err == nil {
		s.mu.Lock()
		s.read, s.reads = s.read+proto.Size(jr.Job), s.reads+1
		s.mu.Unlock()
	}
	return jr, err
}

// TestWideJobCostsO1PerChild: 200 tasks join a job (and complete) beside a
// long-running one. The job's record is written and read in O(1) bytes a
// child: it does not list the children whose task record tells their
// state. Old code: every join and exit rewrote the record listing every
// child, and every submission read it whole (200 children: about 2 MB
// written). Then the member restarts, and the job, rebuilt from its record
// and its tasks, stops as it should: the running task cancelled, the 200
// completed ones untouched.
func TestWideJobCostsO1PerChild(t *testing.T) {
	const job, n = "wide", 200
	path := filepath.Join(t.TempDir(), "tasks.db")
	counter := &jobBytes{job: job}
	h := newHarnessWith(t, path, func(s store.Store) store.Store { counter.Store = s; return counter })
	h.submitSub(tasks.Submission{ID: "wide-keep", Kind: "slow", JobID: job})
	h.running("wide-keep")
	for i := range n {
		h.submitSub(tasks.Submission{ID: fmt.Sprintf("wide-%03d", i), Kind: "ok", JobID: job, JobStage: 1})
	}
	for i := range n {
		if got := h.await(fmt.Sprintf("wide-%03d", i)); got.GetStatus().GetState() != completed {
			t.Fatalf("wide-%03d: %v", i, got.GetStatus())
		}
	}
	// Every join and exit has reached the supervisor once a stop, routed
	// after them, has been taken.
	h.stopJobAndCheck(job, "wide-keep", n)
	counter.mu.Lock()
	put, puts, largest, read, reads := counter.put, counter.puts, counter.largest, counter.read, counter.reads
	counter.mu.Unlock()
	t.Logf("job record: %d writes, %d bytes written (largest %d); %d reads, %d bytes read", puts, put, largest, reads, read)
	const perChild = 256 // bytes a child may cost, written or read
	if put > n*perChild || largest > 2048 {
		t.Errorf("the job's record took %d bytes in %d writes (largest %d) for %d children: want O(1) a child (at most %d)", put, puts, largest, n, n*perChild)
	}
	if read > 4*n*perChild {
		t.Errorf("%d bytes of the job's record read in %d reads for %d children: want O(1) a child (at most %d)", read, reads, n, 4*n*perChild)
	}
}

// TestWideJobRebuiltFromItsTasks: the children a job's record leaves out
// are rebuilt from their tasks when another member's (here a restarted
// member's) supervisor loads the job: a stop terminates the running one,
// and no completed child runs again. A record in the format of earlier
// releases, every child listed (a rolling upgrade), is read as well.
func TestWideJobRebuiltFromItsTasks(t *testing.T) {
	for _, listed := range []bool{false, true} {
		t.Run(fmt.Sprintf("every child listed %v", listed), func(t *testing.T) { testWideJobRebuilt(t, listed) })
	}
}

func testWideJobRebuilt(t *testing.T, listed bool) {
	const job, n = "rebuilt", 20
	path := filepath.Join(t.TempDir(), "tasks.db")
	h := newHarness(t, path)
	h.submitSub(tasks.Submission{ID: "rebuilt-keep", Kind: "slow", JobID: job})
	h.running("rebuilt-keep")
	for i := range n {
		h.submitSub(tasks.Submission{ID: fmt.Sprintf("rebuilt-%02d", i), Kind: "ok", JobID: job, JobStage: 1})
		h.await(fmt.Sprintf("rebuilt-%02d", i))
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		jr, err := h.store.GetJob(context.Background(), job)
		run := jr.Job.GetRun()
		return err == nil && (run.GetHasChildren() || len(run.GetChildren()) > 0), fmt.Sprintf("record %v, %v", jr.Job, err)
	})
	if listed {
		h.listEveryChild(job, "rebuilt-keep", n)
	}
	h.close()
	h2 := newHarness(t, path)
	h2.stopJobAndCheck(job, "rebuilt-keep", n)
	for i := range n {
		id := fmt.Sprintf("rebuilt-%02d", i)
		if st := h2.get(id).GetStatus(); st.GetState() != completed || st.GetAttempts() != 1 {
			t.Errorf("%s after the restart: %v", id, st)
		}
	}
}

// stopJobAndCheck stops job and checks that it ended stopped with keep
// cancelled.
func (h *harness) stopJobAndCheck(job, keep string, n int) {
	h.t.Helper()
	jr, err := h.m.StopJob(testutil.Context(h.t, 30*time.Second), job, "enough")
	if err != nil || jr.Job.GetRun().GetEnd() != supervisor.EndStopped.String() {
		h.t.Fatalf("StopJob: %v, %v; want it stopped", jr.Job.GetRun(), err)
	}
	if st := h.await(keep).GetStatus().GetState(); st != messages.TaskState_TASK_STATE_CANCELLED {
		h.t.Errorf("%s is %v after the stop of a job of %d children, want cancelled", keep, st, n+1)
	}
}

// listEveryChild rewrites job's record as earlier releases wrote it: every
// child listed, keep running and n children rebuilt-NN completed.
func (h *harness) listEveryChild(job, keep string, n int) {
	h.t.Helper()
	ctx := testutil.Context(h.t, 10*time.Second)
	jr, err := h.store.GetJob(ctx, job)
	if err != nil {
		h.t.Fatal(err)
	}
	next := proto.Clone(jr.Job).(*messages.Job)
	next.Run.HasChildren = false
	next.Run.Children = []*messages.JobChildRun{{Id: keep, Restart: "transient", Status: "running"}}
	for i := range n {
		next.Run.Children = append(next.Run.Children, &messages.JobChildRun{Id: fmt.Sprintf("rebuilt-%02d", i), Stage: 1, Restart: "transient", Status: "completed"})
	}
	if _, err := h.store.PutJob(ctx, next, jr.Revision); err != nil {
		h.t.Fatal(err)
	}
}
