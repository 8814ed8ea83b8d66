package tasks

import (
	"sync"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// specParts interns the parts of task specs that the tasks of a kind have
// in common: the retry policy and time-outs BuildTask copies from the
// kind's settings (unless the submit set its own). A task actor holds its
// record for as long as its task runs or waits, and these messages are a
// third of it (about 400 of 1,200 bytes); shared, a member holds them once
// per kind. A spec never changes after submission and a record is cloned
// before it is changed (taskActor.write), so nothing writes to a shared
// part; each is the interner's own copy, not a record's.
type specParts struct {
	mu    sync.Mutex
	kinds map[string]*kindSpecParts
}

// kindSpecParts are one kind's shared parts: the first value seen of each.
type kindSpecParts struct {
	retry                       *messages.RetryPolicy
	attempt, heartbeat, toClose *durationpb.Duration
}

// keep returns rec as a task actor keeps it: an unfinished task's spec
// shares its kind's parts (a finished task's actor stops, so sharing would
// only cost the comparisons). A record that others hold too (aliased) is
// copied first: they may be reading it.
func (p *specParts) keep(rec store.Record, aliased bool) store.Record {
	if rec.Task.GetSpec() == nil || store.Terminal(rec.Task.GetStatus().GetState()) {
		return rec
	}
	if aliased {
		rec.Task = proto.Clone(rec.Task).(*messages.Task)
	}
	spec := rec.Task.GetSpec()
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.kinds[spec.GetKind()]
	if k == nil {
		if p.kinds == nil {
			p.kinds = map[string]*kindSpecParts{}
		}
		k = &kindSpecParts{}
		p.kinds[spec.GetKind()] = k // kinds a member of the cluster registers (submit checks): a handful
	}
	spec.Retry = intern(&k.retry, spec.Retry)
	spec.AttemptTimeout = intern(&k.attempt, spec.AttemptTimeout)
	spec.HeartbeatTimeout = intern(&k.heartbeat, spec.HeartbeatTimeout)
	spec.ScheduleToClose = intern(&k.toClose, spec.ScheduleToClose)
	return rec
}

// intern returns the shared value equal to v, if any; the first value seen
// (a copy of it) becomes the shared one.
func intern[M interface {
	comparable
	proto.Message
}](shared *M, v M) M {
	var none M
	switch {
	case v == none:
		return v
	case *shared == none:
		*shared = proto.Clone(v).(M)
	case !proto.Equal(*shared, v):
		return v // this task's own (its submit set it)
	}
	return *shared
}
