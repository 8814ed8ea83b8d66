package tasks

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
)

// claimBeforeWrite claims task id for member "m2" (a new epoch) just
// before the first update of it that it lets through, as an adopter's
// claim that lands between a direct write's read and its write.
type claimBeforeWrite struct {
	store.Store
	id    string
	armed atomic.Bool
}

func (s *claimBeforeWrite) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	if t.GetSpec().GetId() == s.id && s.armed.CompareAndSwap(true, false) {
		cur, err := s.Store.Get(ctx, s.id)
		if err != nil {
			return store.Record{}, err
		}
		claimed := proto.Clone(cur.Task).(*messages.Task)
		claimed.Status.Owner, claimed.Status.Epoch = "m2", claimed.Status.Epoch+1
		if _, err := s.Store.Update(ctx, claimed, cur.Revision); err != nil {
			return store.Record{}, err
		}
	}
	return s.Store.Update(ctx, t, rev)
}

// TestControlHereYieldsToAClaim: a job's terminate written directly (no
// live actor held the task) whose write finds the task claimed meanwhile
// (an adopter took it, and its actor runs an attempt) is not written over
// the claim: the control is routed again, to the claimant. Written over
// it, as the campaign found, the job took the task for terminated and
// ended while the adopted attempt ran on.
func TestControlHereYieldsToAClaim(t *testing.T) {
	ctx := testutil.Context(t, 30*time.Second)
	s := &claimBeforeWrite{Store: openJobTestStore(t), id: "adopted"}
	task := &messages.Task{
		Spec:   &messages.TaskSpec{Id: "adopted", Kind: "sleep", JobId: "j"},
		Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_RUNNING, Owner: "gone", Epoch: 3, Attempts: 1, JobRound: 1},
	}
	rec, _, err := s.Store.Create(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	m := startJobTestManager(t, ctx, s, "m1")
	s.armed.Store(true)
	c := Control{Op: OpTerminate, ID: "adopted", Round: 2, Final: supervisor.FinalNone, Reason: "its job shuts down"}
	if _, err := m.controlHere(ctx, rec, c); !errors.Is(err, errClaimedMeanwhile) {
		t.Fatalf("controlHere over a claim that landed meanwhile: %v, want errClaimedMeanwhile", err)
	}
	got, err := s.Store.Get(ctx, "adopted")
	if err != nil {
		t.Fatal(err)
	}
	if st := got.Task.GetStatus(); st.GetOwner() != "m2" || st.GetJobHold() != "" || st.GetState() != messages.TaskState_TASK_STATE_RUNNING {
		t.Fatalf("the claimant's task was written over: owner %s, hold %q, state %s", st.GetOwner(), st.GetJobHold(), st.GetState())
	}
}
