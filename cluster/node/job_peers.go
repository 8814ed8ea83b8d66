package node

import (
	"context"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
)

var _ tasks.JobPeers = (*peers)(nil)

// jobCallTimeout bounds a job supervision message to another member when
// the caller allows more (a terminate adds the job's shutdown time): past
// it the member is taken for gone, and the caller claims what it asked.
const jobCallTimeout = 5 * time.Second

// JobControl asks owner's task manager to terminate a task for its job, or
// start it again, and waits for the answer, which for a terminate comes
// once the attempt has exited or was abandoned.
func (p *peers) JobControl(ctx context.Context, owner string, c tasks.Control) (bool, error) {
	msg := &messages.TerminateTask{Id: c.ID, Reason: c.Reason, Round: c.Round, ShutdownMs: c.Shutdown.Milliseconds(), Final: c.Final.String(),
		Start: c.Op == tasks.OpRestart, RequestId: c.RequestID}
	return p.ask(ctx, owner, msg, jobCallTimeout+c.Shutdown)
}

// ReportJob delivers an event to the supervisor of job on owner.
func (p *peers) ReportJob(ctx context.Context, owner, job string, ev *messages.JobEvent) (bool, error) {
	return p.ask(ctx, owner, ev, jobCallTimeout)
}

// codedReply is an answer carrying an api code and its error.
type codedReply interface {
	GetCode() messages.ErrorCode
	GetError() string
}

// ask sends msg to owner's task manager and waits for its answer up to
// timeout (less if ctx ends first), returning the error it carries; ok
// false: owner is not in the view or did not answer.
func (p *peers) ask(ctx context.Context, owner string, msg any, timeout time.Duration) (bool, error) {
	pid, ok := p.root(owner)
	if !ok {
		return false, nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	res, err := p.sys.Root.RequestFuture(pid, msg, timeout).Result()
	if err != nil {
		return false, nil
	}
	reply, isReply := res.(codedReply)
	if !isReply {
		return true, fmt.Errorf("%w: unexpected answer %T to %T", api.ErrUnavailable, res, msg)
	}
	return true, api.FromCode(reply.GetCode(), reply.GetError())
}
