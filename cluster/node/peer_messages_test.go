package node_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The tests in this file send members what a member of their cluster
// could send (the in-process members share an actor system, so the test
// speaks as one of them): nothing is believed beyond what the store holds
// and what a client's submit would be allowed.

// rootOf is the task manager actor of member nd, as other members address it.
func rootOf(nd *node.Node) *actor.PID {
	return actor.NewPID(testcluster.System().Address(), tasks.RootName(nd.ID()))
}

// TestForgedTaskChangedIsNotBelieved: a member pushes a task's change to
// the member that took its submit; a push the store does not hold (state
// completed, a made-up result, revision 2^62, from a member that does not
// own the task) changes nothing a client of that member sees: a long poll
// does not return it, the status stays running.
func TestForgedTaskChangedIsNotBelieved(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), stockKinds(t), 2, nil)
	a := nodes[0]
	ctx := testutil.Context(t, 2*time.Minute)
	// A task a hands to b: a's waiters rely on b's pushes.
	var st *api.Status
	for i := 0; st == nil || st.Owner == a.ID(); i++ {
		var err error
		if st, err = a.Client().Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("forge-%d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if st.State != api.StateRunning {
		t.Fatalf("%s is %s, want running", st.ID, st.State)
	}
	forged := &messages.Task{
		Spec:   &messages.TaskSpec{Id: st.ID, Kind: "sleep", Payload: []byte(`{"ms":600000}`)},
		Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_COMPLETED, Owner: st.Owner, Result: []byte(`{"forged":true}`), Attempts: 1, Epoch: 99},
	}
	testcluster.System().Root.Send(rootOf(a), &messages.TaskChanged{Task: forged, Revision: 1 << 62})
	got, err := a.Client().Watch(ctx, st.ID, st.Revision, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != api.StateRunning || string(got.Result) != "" || got.Revision >= 1<<62 {
		t.Fatalf("after a forged push, a long poll answered %s at revision %d with result %s; want running", got.State, got.Revision, got.Result)
	}
	// A genuine change still reaches a's waiters: cancel on b, wait on a.
	if _, err := nodes[1].Client().Cancel(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	final, err := a.Client().Wait(ctx, st.ID, nil)
	if err != nil || final.State != api.StateCancelled {
		t.Fatalf("waiting on a for the real cancel: %+v, %v", final, err)
	}
	t.Logf("the owner's genuine change reached a's waiter %s after the cancel answered", time.Since(start))
}

// TestSubmitTaskOverRemotingIsChecked: a SubmitTask from a peer is held to
// the HTTP API's rules: max_attempts beyond the kind's limit, an id the API
// forbids, an unknown kind or a bad payload is refused, and nothing is
// stored; a valid one is stored, with no state of the sender's.
func TestSubmitTaskOverRemotingIsChecked(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), stockKinds(t), 1, nil)
	nd := nodes[0]
	ctx := testutil.Context(t, time.Minute)
	task := func(id, kind, payload string, maxAttempts int32, backoff time.Duration) *messages.Task {
		return &messages.Task{
			Spec: &messages.TaskSpec{Id: id, Kind: kind, Payload: []byte(payload),
				Retry: &messages.RetryPolicy{MaxAttempts: maxAttempts, BackoffInitial: durationpb.New(backoff), BackoffMultiplier: 2,
					BackoffMax: durationpb.New(time.Second), Jitter: messages.Jitter_JITTER_EQUAL},
				AttemptTimeout: durationpb.New(time.Minute), HeartbeatTimeout: durationpb.New(0), ScheduleToClose: durationpb.New(0)},
			Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_PENDING, Owner: nd.ID(), SubmittedAt: timestamppb.Now()},
		}
	}
	submit := func(t *messages.Task) (*messages.SubmitTaskReply, error) {
		res, err := testcluster.System().Root.RequestFuture(rootOf(nd), &messages.SubmitTask{Task: t, From: "elsewhere"}, 10*time.Second).Result()
		if err != nil {
			return nil, err
		}
		return res.(*messages.SubmitTaskReply), nil
	}
	bad := map[string]*messages.Task{
		"a million attempts, 1ms backoff": task("remote-many", "sleep", `{"ms":1}`, 1000000, time.Millisecond),
		"an id the API forbids":           task("../evil/id with space", "sleep", `{"ms":1}`, 3, 100*time.Millisecond),
		"an empty id":                     task("", "sleep", `{"ms":1}`, 3, 100*time.Millisecond),
		"an unknown kind":                 task("remote-kind", "rm-rf", `{}`, 3, 100*time.Millisecond),
		"a payload the kind refuses":      task("remote-payload", "sleep", `{"ms":"soon"}`, 3, 100*time.Millisecond),
		"backoff under the minimum":       task("remote-backoff", "sleep", `{"ms":1}`, 3, time.Microsecond),
	}
	for name, tk := range bad {
		reply, err := submit(tk)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := api.FromCode(reply.GetCode(), reply.GetError()); !errors.Is(err, api.ErrInvalidArgument) {
			t.Errorf("%s: answered %v (created %v), want invalid argument", name, err, reply.GetCreated())
		}
	}
	stored, err := nd.Client().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stored {
		t.Errorf("task %q is stored (%s), although every submit was refused", st.ID, st.State)
	}
	good := task("remote-good", "sleep", `{"ms":1}`, 3, 100*time.Millisecond)
	good.Status.Result, good.Status.Attempts = []byte(`"made up"`), 7
	reply, err := submit(good)
	if err != nil || reply.GetCode() != messages.ErrorCode_ERROR_CODE_UNSPECIFIED || !reply.GetCreated() {
		t.Fatalf("a valid SubmitTask: %+v, %v", reply, err)
	}
	st, err := nd.Client().Wait(ctx, "remote-good", nil)
	if err != nil || st.State != api.StateCompleted || st.Attempts != 1 || string(st.Result) == `"made up"` {
		t.Fatalf("a valid SubmitTask ran as %+v, %v; want completed in 1 attempt with its own result", st, err)
	}
}
