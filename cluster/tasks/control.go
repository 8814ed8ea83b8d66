package tasks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Control is a request to the member that owns a task.
type Control struct {
	Op     ControlOp
	ID     string
	Reason string
	// RequestID makes a restart idempotent (see Manager.Restart).
	RequestID string
	// Round is the job round of a start (OpRestart) or terminate
	// (OpTerminate) by the task's job; 0 for a request from a client.
	Round uint64
	// Shutdown (OpTerminate) is how long the cancelled attempt may take to
	// exit before it is abandoned; 0 abandons it at once.
	Shutdown time.Duration
	// Final (OpTerminate) is what the task becomes once its attempt has
	// exited: it waits for its job to start it again (FinalNone), or is
	// cancelled or failed for good.
	Final supervisor.Final
}

// ControlOp is what a Control asks for.
type ControlOp int

const (
	// OpCancel stops the running attempt and marks the task cancelled.
	OpCancel ControlOp = iota
	// OpRestart stops the running attempt and starts the task again at
	// once with a fresh retry budget (a job restart).
	OpRestart
	// OpTerminate is its job terminating the task: the running attempt is
	// cancelled and waited for up to Shutdown, then abandoned (what it
	// returns later is fenced off); the answer comes once it has exited.
	// The task then waits for its job, or is made Final.
	OpTerminate
)

// String names the operation as logs and errors say it.
func (o ControlOp) String() string {
	switch o {
	case OpRestart:
		return "restart"
	case OpTerminate:
		return "terminate"
	}
	return "cancel"
}

// Cancel stops the task's running attempt and marks it cancelled. A task
// already finished is api.ErrFailedPrecondition.
func (m *Manager) Cancel(ctx context.Context, id, reason string) (store.Record, error) {
	if reason == "" {
		reason = "cancelled by request"
	}
	if err := checkText("cancel reason", reason, MaxReasonBytes); err != nil {
		return store.Record{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	rec, err := m.control(ctx, Control{Op: OpCancel, ID: id, Reason: reason})
	if err == nil {
		m.stopChildrenOf(rec.Task) // also when no task actor ran it (reportExit does otherwise)
	}
	return rec, err
}

// Restart stops the task's running attempt, if any, and runs the task
// again at once with a fresh retry budget: what a job restart does to the
// tasks its strategy names. Its attempts and error history are kept; the
// interrupted attempt is recorded with cause restart (job_restart when its
// job asks, with a job start's request id). A task already
// finished is api.ErrFailedPrecondition: a committed result never runs again.
//
// requestID, if set, makes it idempotent: a restart with the id of the
// task's last applied restart returns the task unchanged, even if it has
// finished since.
func (m *Manager) Restart(ctx context.Context, id, reason, requestID string) (store.Record, error) {
	if reason == "" {
		reason = "restarted by request"
	}
	if err := checkText("restart reason", reason, MaxReasonBytes); err != nil {
		return store.Record{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	if err := checkText("restart request id", requestID, 128); err != nil {
		return store.Record{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	return m.control(ctx, Control{Op: OpRestart, ID: id, Reason: reason, RequestID: requestID})
}

// applied reports whether c is a restart the task has applied already:
// its request id is the last one applied. A job's start of a round (its
// request id names the round) is so applied at most once per incarnation,
// even if the attempt it began has since exited and the task waits, held,
// for its job: a start sent again (a resend, a new owner resuming the
// round) must not run the task twice. Only a terminate of that round
// applied after it (an owner resuming the round terminated it again)
// clears the mark, so that the round's start runs it again
// (terminateStatus). A job's start of a round older than the task's job
// round is taken as applied too: a later round's start or terminate has
// reached the task since (the start was overtaken on its way), and the
// job has moved on.
func (c Control) applied(st *messages.TaskStatus) bool {
	if c.Op != OpRestart {
		return false
	}
	return c.RequestID != "" && st.GetLastRestart() == c.RequestID || c.Round > 0 && c.Round < st.GetJobRound()
}

// jobStartID is the request id of job's start of a task in round: a start
// sent again in its round is applied once (Control.applied).
func jobStartID(job string, round uint64) string {
	return fmt.Sprintf("%s%s#%d", jobStartPrefix, job, round)
}

// jobStartPrefix begins the request id of a job's start (jobStartID).
const jobStartPrefix = "job:"

// isJobStartOf reports whether requestID is a job's start in round.
func isJobStartOf(requestID string, round uint64) bool {
	return round > 0 && strings.HasPrefix(requestID, jobStartPrefix) && strings.HasSuffix(requestID, fmt.Sprintf("#%d", round))
}

// control carries out c on the task's owner: its task actor here, the
// owning member through Peers.Forward, or a check-and-set write here when no live
// member holds the task.
func (m *Manager) control(ctx context.Context, c Control) (store.Record, error) {
	if err := checkID("task", c.ID); err != nil {
		return store.Record{}, err
	}
	for tries := 1; ; tries++ {
		out, err := m.controlOnce(ctx, c)
		if !errors.Is(err, errClaimedMeanwhile) {
			return out, err
		}
		if tries == maxControlRoutes {
			return store.Record{}, fmt.Errorf("%w: %s of %s: %w", api.ErrUnavailable, c.Op, c.ID, err)
		}
	}
}

// maxControlRoutes bounds how often a control is routed again because the
// task was claimed while it was being written directly (errClaimedMeanwhile):
// a claim each time means members keep taking the task from each other,
// which a caller may wait out and retry.
const maxControlRoutes = 3

// errClaimedMeanwhile: the task was claimed (a new epoch) while controlHere
// wrote it directly, as no live actor held it: an actor holds it now, and
// the control goes to it.
var errClaimedMeanwhile = errors.New("the task was claimed while the control was being written")

// controlOnce routes c once, from the task as stored now.
func (m *Manager) controlOnce(ctx context.Context, c Control) (store.Record, error) {
	rec, err := m.store.Get(ctx, c.ID)
	if err != nil {
		return store.Record{}, storeErr(err)
	}
	route, err := routeControl(c, rec.Task.GetStatus(), m.member)
	switch {
	case err != nil:
		return store.Record{}, err
	case route == routeDone:
		m.reportAppliedStart(c, rec)
		return m.withLive(rec), nil // a retry of a restart that took effect
	case route == routeOwner && (c.Op == OpTerminate || c.Round > 0):
		// A job's terminate or start goes to the owner through JobPeers
		// (Peers.Forward knows a client's cancel and restart only), or is
		// written here, claimed.
		if jp, ok := m.cfg.Peers.(JobPeers); ok {
			if ok, err := jp.JobControl(ctx, rec.Task.GetStatus().GetOwner(), c); ok {
				if err != nil {
					return store.Record{}, err
				}
				return m.Get(ctx, c.ID)
			}
		}
		out, err := m.controlHere(ctx, rec, c)
		if err == nil && c.Op == OpRestart && out.Task.GetStatus().GetOwner() == m.member {
			m.activateWritten(c.ID) // a job's start claimed it from a member gone: run it here
		}
		return out, err
	case route == routeOwner:
		owner := rec.Task.GetStatus().GetOwner()
		if m.cfg.Peers != nil {
			if ok, err := m.cfg.Peers.Forward(ctx, owner, c); ok {
				if err != nil {
					return store.Record{}, err
				}
				return m.Get(ctx, c.ID)
			}
		}
		return m.controlHere(ctx, rec, c)
	}
	timeout := m.cfg.StoreTimeout + c.Shutdown
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	res, err := m.system.Root.RequestFuture(m.root, &controlTask{c}, timeout).Result()
	if errors.Is(err, actor.ErrDeadLetter) && !m.closing.Load() {
		// Forwarded to a task actor gone from the registry before the
		// root heard that it stopped: there is no actor to take it.
		res, err = &controlReply{err: errNotActive}, nil
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: %s of %s: %w", api.ErrUnavailable, c.Op, c.ID, err)
	}
	reply := res.(*controlReply)
	if errors.Is(reply.err, errNotActive) {
		out, err := m.controlHere(ctx, rec, c)
		if err == nil && c.Op == OpRestart && out.Task.GetStatus().GetOwner() == m.member {
			m.activateWritten(c.ID) // it is ours: run it
		}
		return out, err
	}
	if reply.err != nil {
		return store.Record{}, reply.err
	}
	return reply.rec, nil
}

// reportAppliedStart tells the job again how its task exited when the
// job's start c, sent again, finds the attempt it began already over (the
// task held for its job): the job asking again may be a new owner resuming
// the round, which the first report, sent to the owner that died, never
// reached. The job takes a report sent twice once.
func (m *Manager) reportAppliedStart(c Control, rec store.Record) {
	if st := rec.Task.GetStatus(); c.Op == OpRestart && c.Round > 0 && st.GetJobRound() == c.Round && st.GetJobHold() != "" {
		m.reportExit(rec.Task)
	}
}

// controlHere writes c's change directly, for a task no live actor owns.
// The check-and-set on the revision makes a concurrent owner's write fail,
// and that owner re-reads before deciding again. A conflict with a claim
// (an adopter's, an activation's here) is not written over: a live actor
// holds the task now, and the control must reach it (errClaimedMeanwhile),
// or its attempt would run on, unaware, until its next write (the
// campaign's "child-of-ended-job": a terminate written over an adoption's
// claim, the job ended, the adopted attempt ran on).
func (m *Manager) controlHere(ctx context.Context, rec store.Record, c Control) (store.Record, error) {
	if m.fenced() {
		return store.Record{}, fmt.Errorf("%w: member %s is fenced", api.ErrUnavailable, m.member)
	}
	epoch := rec.Task.GetStatus().GetEpoch()
	for tries := 0; tries < 5; tries++ {
		if c.applied(rec.Task.GetStatus()) || terminateStale(c, rec.Task.GetStatus()) {
			m.reportAppliedStart(c, rec)
			return rec, nil
		}
		next := proto.Clone(rec.Task).(*messages.Task)
		controlStatus(next.Status, c, m.now(), m.member)
		out, err := m.store.Update(ctx, next, rec.Revision)
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return store.Record{}, storeErr(err)
		}
		if rec, err = m.store.Get(ctx, rec.Task.GetSpec().GetId()); err != nil {
			return store.Record{}, storeErr(err)
		}
		if st := rec.Task.GetStatus(); store.Terminal(st.GetState()) {
			return store.Record{}, finishedErr(c.ID, st.GetState())
		} else if st.GetEpoch() != epoch {
			return store.Record{}, errClaimedMeanwhile
		}
	}
	return store.Record{}, fmt.Errorf("%w: task %s keeps changing; try again", api.ErrUnavailable, rec.Task.GetSpec().GetId())
}

// restartStatus is the pure status change of a restart: an attempt in
// flight is recorded as interrupted (cause job_restart when its job
// started it again, restart when a client asked), the task is due at
// once, and its retry budget counts from here.
func restartStatus(st *messages.TaskStatus, now time.Time, reason, member, requestID string) {
	if st.GetState() == messages.TaskState_TASK_STATE_RUNNING {
		cause := CauseRestart
		if strings.HasPrefix(requestID, jobStartPrefix) {
			cause = CauseJobRestart
		}
		st.Errors = append(st.Errors, &messages.AttemptError{
			Attempt:   st.GetAttempts(),
			Cause:     cause,
			Message:   reason,
			At:        timestamppb.New(now),
			Member:    cmp.Or(st.GetOwner(), member), // where it ran
			StartedAt: st.GetStartedAt(),
		})
	}
	if st.GetState() != messages.TaskState_TASK_STATE_PENDING {
		st.State = messages.TaskState_TASK_STATE_RETRYING
		st.NextAttemptAt = timestamppb.New(now)
	}
	st.BudgetBase = st.GetAttempts()
	st.JobRestarts++
	if requestID != "" {
		st.LastRestart = requestID
	}
	st.Progress, st.ProgressNote = 0, ""
}

// Causes recorded for attempts their job, or a client, ended.
const (
	// CauseRestart: a client's restart (granary restart, POST
	// /v1/tasks/{id}/restart) interrupted the attempt; it did not fail.
	CauseRestart = "restart"
	// CauseJobRestart: a job restart interrupted the attempt; it did not
	// fail, its job restarted it.
	CauseJobRestart = "job_restart"
	// CauseJobTerminate: its job terminated the attempt, which exited
	// within the job's shutdown time.
	CauseJobTerminate = "job_terminate"
	// CauseAbandoned: its job terminated the attempt, which did not exit
	// within the job's shutdown time: it was abandoned, and whatever it
	// returns is dropped (the attempt is no longer the task's).
	CauseAbandoned = "abandoned"
)

// errNotActive: no task actor of this member holds the task.
var errNotActive = errors.New("task not active on this member")
