package tasks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// spawn starts the task actor of msg.id.
func (r *rootActor) spawn(c actor.Context, msg *activate) {
	r.resumeParked(msg) // root_idle.go
	if r.taskProps == nil {
		m := r.m
		r.taskProps = actor.PropsFromProducer(func() actor.Actor { return &taskActor{m: m} }, smallMailbox)
	}
	r.m.births.Store(msg.id, msg) // taken by the actor's Started (incarnate)
	pid, err := c.SpawnNamed(r.taskProps, "task-"+msg.id)
	if err != nil {
		r.m.births.Delete(msg.id)
		r.m.log.Error("cannot spawn task actor", "task", msg.id, "err", err)
		return
	}
	r.children[msg.id] = pid // its name says its task (taskOf)
}

// taskOf is the task whose actor who is, if it is one of root's: task
// actors are named "task-<id>" under it (protoactor names a child
// "<parent>/<name>"), so the root keeps no map back from PIDs to tasks (a
// member holds a task actor per running task).
func taskOf(root, who *actor.PID) (string, bool) {
	return strings.CutPrefix(who.Id, root.Id+"/task-")
}

// created ends the mark of a task createOwned stored as being created,
// once its activation is handled: started, or refused (one queued behind
// an earlier actor of the task keeps the mark until it starts). Until
// then, an activation from the owner-index watch waits (deferred), rather
// than start a second actor that would take the new task for one
// interrupted in flight and run it again.
func (r *rootActor) created(msg *activate) {
	if msg.born && msg.unstored == nil {
		r.m.creating.Delete(msg.id)
	}
}

// notStarted answers runFirst when its activation is dropped.
func (a *activate) notStarted(err error) {
	if a.unstored != nil {
		a.unstored <- firstWrite{err: err}
	}
}

// admission is what the root actor does with an activation.
type admission int

const (
	// admitSpawn: start the task's actor.
	admitSpawn admission = iota
	// admitRefuse: the member drains or is fenced: start nothing, and tell
	// a waiting creator the task is unavailable here.
	admitRefuse
	// admitWriteFirst: an actor of the task still runs, so a new task
	// cannot run ahead of its first write (runFirst): write it first.
	admitWriteFirst
	// admitAfter: created here while an earlier actor of the task is still
	// stopping (its own creation lost the race): start once that one is
	// gone.
	admitAfter
	// admitDefer: the task is being created here (createOwned): wait for
	// its creator's activation, rather than start a second actor that would
	// take the new task for one interrupted in flight and run it again.
	admitDefer
	// admitDrop: an actor of the task runs already and serves it.
	admitDrop
)

// admit is the root actor's pure rule for an activation: born, that this
// member created the task running; unstored, that it is not stored yet
// (runFirst); closed, that the member drains or is fenced; live, that an
// actor of the task runs; creating, that the task is being created here.
func admit(born, unstored, written, closed, live, creating bool) admission {
	switch {
	case closed:
		return admitRefuse
	case live && unstored:
		return admitWriteFirst
	case live && (born || written):
		return admitAfter
	case live:
		return admitDrop
	case creating && !born:
		return admitDefer
	}
	return admitSpawn
}

// Messages of the root actor.
type (
	activate struct {
		id    string
		adopt bool
		rec   *store.Record // as just read, saving the task actor a read
		from  string        // the member that submitted it, told of its changes
		born  bool          // rec was created here claimed and running
		// unstored: rec is not stored yet; the actor runs its first
		// attempt, writes it, and sends the outcome here (runFirst).
		unstored chan<- firstWrite
		// resume is the epoch of this member's claim on a parked task
		// (root_idle.go): its new actor finds it claimed already.
		resume uint64
		// written: the task was just written outside its actor (a dead
		// letter sent round again, a job's start written here): a live
		// actor may be one that finished it and is stopping, so a new one
		// starts once it is gone (dropped, the retried task waited for the
		// owned-task watch: TestRetryDeadLetter, now and then).
		written bool
	}
	suspendAll struct{}
	resume     struct{}
	// notBorn: createOwned did not create the task.
	notBorn struct{ id string }
	ping    struct{}
	pong    struct{}
	// taskActors asks for the task actors' PIDs ([]*actor.PID; settle).
	taskActors struct{}
)

// rootActor supervises the task actors of this member and routes messages
// to them by task id.
type rootActor struct {
	m        *Manager
	children map[string]*actor.PID
	// byPID maps a job actor's PID ("job:" + its Id) to its job.
	byPID map[string]string
	// taskProps are every task actor's: one Props for all (a member holds
	// a task actor per running task; Props and a producer's closure each
	// cost about 300 bytes). What an actor's activation says reaches it
	// through Manager.births.
	taskProps *actor.Props
	draining  bool
	// suspended holds the tasks whose actors a fence stopped: they are
	// started again as soon as the fence lifts (and their old actor is gone).
	suspended map[string]bool
	// deferred holds activations that arrived while their task was being
	// created here (Manager.createOwned), until it is.
	deferred map[string]*activate
	// after holds activations of tasks created here while an actor of the
	// same task was still running, until it stops.
	after map[string]*activate
	// jobs are the job supervisors this member runs, by job id.
	jobs   map[string]*actor.PID
	jobSeq int
	// wakes are the wake-ups of the tasks that wait (wakeups.go), parked
	// the tasks that wait with no actor (root_idle.go); timer fires at
	// timerAt, the earliest wake-up.
	wakes   wakeups
	parked  map[string]*parkedTask
	timer   *time.Timer
	timerAt time.Time
	// sent are the controls forwarded to task actors, by actor, until
	// the actor stops (root_controls.go).
	sent map[string]*sentControls
}

// Receive admits activations (admit), routes controls to task actors and
// handles the member's fence, resume and drain.
func (r *rootActor) Receive(c actor.Context) {
	if r.receiveIdle(c, c.Message()) {
		return
	}
	switch msg := c.Message().(type) {
	case *activate:
		r.admitActivation(c, msg)
	case *notBorn:
		// The creation did not happen (or found the task stored already):
		// an activation that waited for it goes ahead.
		if a, ok := r.deferred[msg.id]; ok {
			delete(r.deferred, msg.id)
			c.Send(c.Self(), a)
		}
	case *jobMsg:
		r.routeJob(c, msg)
	case *jobQuit:
		retireJob(c, r.jobs, msg)
	case *controlTask:
		if !r.toTask(c, msg.ID, msg, c.Sender()) {
			c.Respond(&controlReply{err: errNotActive})
		}
	case *messages.ActivateTask:
		// Only the id is believed: the task actor reads the task from the
		// store (a record sent along could claim any spec or state). A
		// Notify is the slow path (the owner was unreachable at submit),
		// so the read costs little.
		if !r.draining && !r.m.fenced() && validID(msg.GetId()) {
			c.Send(c.Self(), &activate{id: msg.GetId(), from: msg.GetFrom()})
		}
	case *messages.SubmitTask:
		r.answerSubmit(c, msg)
	case *messages.JobEvent:
		code, text := answerCode(r.m.ReceiveJobEvent(msg))
		c.Respond(&messages.JobEventReply{Code: code, Error: text})
	case *messages.TerminateTask:
		r.answerTerminate(c, msg)
	case *messages.TaskChanged:
		if validID(msg.GetTask().GetSpec().GetId()) && msg.GetRevision() > 0 {
			go r.m.checkPush(store.Record{Task: msg.GetTask(), Revision: msg.GetRevision()})
		}
	case *ping:
		c.Respond(&pong{})
	case *taskActors:
		c.Respond(slices.Clone(c.Children())) // Children is the context's own set, which it changes as children stop
	case *suspendAll:
		r.fenceAll(c)
	case *resume:
		r.resumeAll(c)
	case *drain:
		r.beginDrain(c, msg)
	case *actor.Terminated:
		r.forget(c, msg.Who)
	}
}

// fenceAll stops every job and task actor of a member that was fenced;
// resumeAll starts the tasks again once it holds its lease.
func (r *rootActor) fenceAll(c actor.Context) {
	for _, pid := range r.jobs {
		c.Stop(pid) // a fenced member supervises nothing; the claim passes on
	}
	if r.suspended == nil {
		r.suspended = map[string]bool{}
	}
	for id, pid := range r.children {
		if r.parked[id] != nil {
			continue // stopping already, its wake-up kept
		}
		r.suspended[id] = true
		c.Stop(pid)
	}
}

// resumeAll: see fenceAll.
func (r *rootActor) resumeAll(c actor.Context) {
	for id := range r.suspended {
		if _, live := r.children[id]; !live {
			delete(r.suspended, id)
			r.spawn(c, &activate{id: id})
		}
	}
	r.fire(c) // the wake-ups that came due while fenced
}

// beginDrain tells every task actor that the member drains, and stops the job
// actors.
func (r *rootActor) beginDrain(c actor.Context, msg *drain) {
	r.draining = true
	r.rearm(c) // stops the timer: a draining member starts no attempt
	for id, pid := range r.children {
		if r.parked[id] == nil { // a parked one that stays hears it then
			c.Send(pid, msg)
		}
	}
	for _, pid := range r.jobs {
		c.Stop(pid) // another member adopts their jobs; the record says where they were
	}
}

// forget forgets a job or task actor that stopped, and starts what
// waited for it: an activation held back, a task suspended by a fence
// that was lifted meanwhile.
func (r *rootActor) forget(c actor.Context, who *actor.PID) {
	if id, ok := r.byPID["job:"+who.Id]; ok {
		delete(r.byPID, "job:"+who.Id)
		if r.jobs[id] != nil && r.jobs[id].Equal(who) {
			delete(r.jobs, id)
		}
	}
	id, ok := taskOf(c.Self(), who)
	if pid := r.children[id]; !ok || pid == nil || !pid.Equal(who) {
		r.resendControls(c, who)
		return
	}
	defer r.resendControls(c, who) // to the task's next actor, if this brings one
	delete(r.children, id)
	r.idleGone(c, id)
	if a, ok := r.after[id]; ok {
		delete(r.after, id)
		c.Send(c.Self(), a)
	}
	if _, live := r.children[id]; r.suspended[id] && !live && !r.m.fenced() && !r.draining {
		delete(r.suspended, id)
		r.spawn(c, &activate{id: id})
	}
}

// admitActivation starts, refuses, holds back or drops an activation, as admit
// rules.
func (r *rootActor) admitActivation(c actor.Context, msg *activate) {
	if msg.unstored != nil && r.parked[msg.id] != nil {
		// A task parked here is stored (a submit wrongly marked fresh,
		// Submission.Fresh): write first, which finds it, and run nothing.
		msg.notStarted(errWriteFirst)
		return
	}
	if p := r.parked[msg.id]; p != nil && msg.rec == nil && msg.unstored == nil && !msg.born {
		return // its wake-up serves it, as a live actor would (the owned-task watch activates every task again now and then)
	} else if p != nil && p.stopping && !r.draining && !r.m.fenced() {
		if r.after == nil {
			r.after = map[string]*activate{}
		}
		r.after[msg.id] = msg // its parked actor is stopping: start once it is gone
		return
	}
	_, live := r.children[msg.id]
	_, creating := r.m.creating.Load(msg.id)
	switch admit(msg.born, msg.unstored != nil, msg.written, r.draining || r.m.fenced(), live, creating) {
	case admitRefuse:
		msg.notStarted(fmt.Errorf("%w: member %s is shutting down or fenced", api.ErrUnavailable, r.m.member))
		r.created(msg)
	case admitWriteFirst:
		msg.notStarted(errWriteFirst)
	case admitAfter:
		if r.after == nil {
			r.after = map[string]*activate{}
		}
		r.after[msg.id] = msg
	case admitDefer:
		if r.deferred == nil {
			r.deferred = map[string]*activate{}
		}
		r.deferred[msg.id] = msg // its creator's activation comes next
	case admitSpawn:
		delete(r.deferred, msg.id) // the actor about to start serves it
		r.spawn(c, msg)
		r.created(msg)
	}
}

// answerSubmit answers a SubmitTask from another member.
func (r *rootActor) answerSubmit(c actor.Context, msg *messages.SubmitTask) {
	// The store write must not hold up this actor: answer from a
	// goroutine, to the sender (a future on the submitting member).
	sender, m := c.Sender(), r.m
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StoreTimeout)
		defer cancel()
		reply := &messages.SubmitTaskReply{}
		t, err := CheckTask(m.registry, msg.GetTask(), msg.GetTask().GetStatus().GetOwner())
		var rec store.Record
		var created bool
		if err == nil {
			rec, created, err = m.SubmitOwned(ctx, t, msg.GetFrom(), msg.GetFresh())
		}
		if err != nil {
			reply.Code, reply.Error = api.ToCode(err)
		} else {
			reply.Task, reply.Revision, reply.Created = rec.Task, rec.Revision, created
		}
		if sender != nil {
			m.system.Root.Send(sender, reply)
		}
	}()
}

// routeJob hands an event to the supervisor of its job on this member,
// spawning it if it does not run here (it loads and claims the job). A
// draining or fenced member runs no job supervisor.
func (r *rootActor) routeJob(c actor.Context, msg *jobMsg) {
	if pid, ok := r.jobs[msg.id]; ok {
		c.Send(pid, msg)
		return
	}
	if r.draining || r.m.fenced() || !validID(msg.id) {
		return
	}
	// A numbered name: the job's previous actor may still be stopping.
	r.jobSeq++
	pid, err := c.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &jobActor{m: r.m, id: msg.id} }), fmt.Sprintf("job-%s-%d", msg.id, r.jobSeq))
	if err != nil {
		r.m.log.Error("cannot spawn job supervisor", "job", msg.id, "err", err)
		return
	}
	if r.jobs == nil {
		r.jobs = map[string]*actor.PID{}
	}
	if r.byPID == nil {
		r.byPID = map[string]string{}
	}
	r.jobs[msg.id], r.byPID["job:"+pid.Id] = pid, msg.id
	c.Send(pid, msg)
}

// answerTerminate carries out a terminate (or start) of a task here that
// another member's job supervisor asked for, off the root actor (a
// terminate waits for the attempt to exit), and answers the sender.
func (r *rootActor) answerTerminate(c actor.Context, msg *messages.TerminateTask) {
	sender, m := c.Sender(), r.m
	final, err := supervisor.ParseFinal(msg.GetFinal())
	ctl := Control{Op: OpTerminate, ID: msg.GetId(), Reason: msg.GetReason(), Round: msg.GetRound(),
		Shutdown: time.Duration(msg.GetShutdownMs()) * time.Millisecond, Final: final}
	if msg.GetStart() {
		ctl.Op, ctl.RequestID = OpRestart, msg.GetRequestId()
	}
	if err == nil && (ctl.Shutdown < 0 || ctl.Round == 0 || checkText("job control reason", ctl.Reason, MaxReasonBytes) != nil ||
		checkText("request id", ctl.RequestID, 128) != nil) {
		err = fmt.Errorf("%w: bad job control of %s", api.ErrInvalidArgument, msg.GetId())
	}
	reply := func(err error) {
		code, text := answerCode(err)
		if sender != nil {
			m.system.Root.Send(sender, &messages.TerminateTaskReply{Code: code, Error: text})
		}
	}
	if err != nil {
		reply(err)
		return
	}
	if !m.jobs.Go(func() {
		ctx, cancel := context.WithTimeout(m.jobs.Context(), 2*m.cfg.StoreTimeout+ctl.Shutdown)
		defer cancel()
		_, err := m.control(ctx, ctl)
		reply(err)
	}) {
		reply(fmt.Errorf("%w: member %s is stopping", api.ErrUnavailable, m.member))
	}
}

// answerCode is err as an answer to another member carries it: no code
// for success.
func answerCode(err error) (messages.ErrorCode, string) {
	if err == nil {
		return messages.ErrorCode_ERROR_CODE_UNSPECIFIED, ""
	}
	return api.ToCode(err)
}
