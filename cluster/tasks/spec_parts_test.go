package tasks

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func partsTask(id, kind string, attempts int32, timeout time.Duration, state messages.TaskState) *messages.Task {
	return &messages.Task{
		Spec: &messages.TaskSpec{Id: id, Kind: kind,
			Retry:          &messages.RetryPolicy{MaxAttempts: attempts, BackoffInitial: durationpb.New(time.Second)},
			AttemptTimeout: durationpb.New(timeout)},
		Status: &messages.TaskStatus{State: state},
	}
}

// TestSpecPartsShareAKindsSettings: unfinished tasks of a kind with equal
// settings share one copy of them; other settings, other kinds and
// finished tasks keep their own; a record others hold is copied, not
// changed.
func TestSpecPartsShareAKindsSettings(t *testing.T) {
	var p specParts
	running := messages.TaskState_TASK_STATE_RUNNING
	a := p.keep(store.Record{Task: partsTask("a", "k", 3, time.Minute, running)}, false)
	b := p.keep(store.Record{Task: partsTask("b", "k", 3, time.Minute, running)}, false)
	if a.Task.Spec.Retry != b.Task.Spec.Retry || a.Task.Spec.AttemptTimeout != b.Task.Spec.AttemptTimeout {
		t.Errorf("equal settings of one kind not shared")
	}
	own := p.keep(store.Record{Task: partsTask("c", "k", 7, time.Minute, running)}, false)
	if own.Task.Spec.Retry == a.Task.Spec.Retry || own.Task.Spec.Retry.GetMaxAttempts() != 7 {
		t.Errorf("a task's own retry policy was replaced: %v", own.Task.Spec.Retry)
	}
	if own.Task.Spec.AttemptTimeout != a.Task.Spec.AttemptTimeout {
		t.Errorf("its equal time-out not shared")
	}
	other := p.keep(store.Record{Task: partsTask("d", "other", 3, time.Minute, running)}, false)
	if other.Task.Spec.Retry == a.Task.Spec.Retry {
		t.Errorf("shared across kinds")
	}
	done := partsTask("e", "k", 3, time.Minute, messages.TaskState_TASK_STATE_COMPLETED)
	retry := done.Spec.Retry
	if p.keep(store.Record{Task: done}, false); done.Spec.Retry != retry {
		t.Errorf("a finished task's spec was changed")
	}
	held := partsTask("f", "k", 3, time.Minute, running)
	heldRetry := held.Spec.Retry
	kept := p.keep(store.Record{Task: held, Revision: 9}, true)
	if held.Spec.Retry != heldRetry || kept.Task == held || kept.Revision != 9 {
		t.Errorf("an aliased record was changed in place, or its copy lost its revision")
	}
	if kept.Task.Spec.Retry != a.Task.Spec.Retry || !proto.Equal(kept.Task, held) {
		t.Errorf("the copy of an aliased record does not share, or differs: %v", kept.Task)
	}
	if first := partsTask("a", "k", 3, time.Minute, running); !proto.Equal(a.Task, first) {
		t.Errorf("a shared record differs from what it was: %v", a.Task)
	}
}
