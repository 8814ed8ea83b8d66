package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
)

// submitToTimeout bounds a hand-off of a submit to its owner when the
// caller's context allows more: a healthy owner answers in one store write
// (milliseconds); past this the owner is in trouble and the task is better
// stored here for it to claim.
const submitToTimeout = 5 * time.Second

// peers is tasks.Peers over protoactor remoting: messages to the task
// manager actor of the member named, at its address in the current view.
type peers struct {
	sys  *actor.ActorSystem
	self string
	view func() membership.View
	// client calls a member's API (Forward).
	client func(httpAddr string, retryFor time.Duration) (*client.Client, error)
}

var (
	_ tasks.Peers          = (*peers)(nil)
	_ tasks.ProgressReader = (*peers)(nil)
)

// root is the task manager actor of member, if it is in the view.
func (p *peers) root(member string) (*actor.PID, bool) {
	m, ok := p.view().Member(member)
	if !ok {
		return nil, false
	}
	return actor.NewPID(m.Addr, tasks.RootName(member)), true
}

func (p *peers) SubmitTo(ctx context.Context, owner string, t *messages.Task, fresh bool) (store.Record, bool, error) {
	pid, ok := p.root(owner)
	if !ok {
		return store.Record{}, false, fmt.Errorf("%w: %s is not in the view", tasks.ErrOwnerUnreachable, owner)
	}
	// Leave half of the caller's time for storing the task here instead.
	timeout := submitToTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)/2 < timeout {
		timeout = time.Until(dl) / 2
	}
	res, err := p.sys.Root.RequestFuture(pid, &messages.SubmitTask{Task: t, From: p.self, Fresh: fresh}, timeout).Result()
	if err != nil {
		return store.Record{}, false, fmt.Errorf("%w: %w", tasks.ErrOwnerUnreachable, err)
	}
	reply, ok := res.(*messages.SubmitTaskReply)
	if !ok {
		return store.Record{}, false, fmt.Errorf("%w: unexpected answer %T", tasks.ErrOwnerUnreachable, res)
	}
	if err := api.FromCode(reply.GetCode(), reply.GetError()); err != nil {
		return store.Record{}, false, err
	}
	return store.Record{Task: reply.GetTask(), Revision: reply.GetRevision()}, reply.GetCreated(), nil
}

func (p *peers) Notify(owner string, rec store.Record) {
	if pid, ok := p.root(owner); ok {
		p.sys.Root.Send(pid, &messages.ActivateTask{Id: rec.Task.GetSpec().GetId(), Task: rec.Task, Revision: rec.Revision, From: p.self})
	}
}

func (p *peers) Push(member string, rec store.Record) {
	if pid, ok := p.root(member); ok {
		p.sys.Root.Send(pid, &messages.TaskChanged{Task: rec.Task, Revision: rec.Revision})
	}
}

// Forward sends a cancel or restart to the owner through its HTTP API,
// which answers with the outcome; ok false means the owner is not live.
func (p *peers) Forward(ctx context.Context, owner string, ctl tasks.Control) (bool, error) {
	m, ok := p.view().Member(owner)
	if !ok || m.HTTPAddr == "" {
		return false, nil
	}
	c, err := p.client(m.HTTPAddr, time.Second)
	if err != nil {
		return false, nil
	}
	if ctl.Op == tasks.OpRestart {
		// A restart without a request id gets one, kept across the
		// client's retries.
		_, err = c.RestartOnce(ctx, ctl.ID, ctl.Reason, cmp.Or(ctl.RequestID, api.NewID()))
	} else {
		_, err = c.CancelWithReason(ctx, ctl.ID, ctl.Reason)
	}
	if err != nil {
		if errors.Is(err, api.ErrUnavailable) {
			return false, nil
		}
		return true, err
	}
	return true, nil
}

// Progress asks owner's API for its own knowledge of a running attempt
// (GET /v1/tasks/{id}?local=1), once: the caller has a stored status to
// fall back on.
func (p *peers) Progress(ctx context.Context, owner, id string) (int32, float64, string, error) {
	m, ok := p.view().Member(owner)
	if !ok || m.HTTPAddr == "" {
		return 0, 0, "", fmt.Errorf("%w: %s is not in the view", tasks.ErrOwnerUnreachable, owner)
	}
	c, err := p.client(m.HTTPAddr, time.Millisecond)
	if err != nil {
		return 0, 0, "", err
	}
	st, err := c.GetLocal(ctx, id)
	if err != nil {
		return 0, 0, "", err
	}
	if st.State != api.StateRunning {
		return 0, 0, "", fmt.Errorf("task %s is %s on %s", id, st.State, owner)
	}
	return int32(st.Attempts), st.Progress, st.ProgressNote, nil
}
