package tasks

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/messages"
)

// Idle tasks hold no actor. A task actor whose task only waits for its
// next attempt (a backoff, a start_at) arms its wake-up in the root
// actor's timer heap (wakeups) and offers to stop (idleTask). The root
// accepts, holds the task's messages from then on, and tells the actor
// (parkOK); the actor, having handled everything the root sent before,
// stops if it is still idle, or says it stays (parkStay). The root keeps
// a parkedTask, a few bytes: when the wake-up is due, or a control or an
// activation arrives for the task, it starts a new actor, which loads the
// task from the store and resumes it as any actor of it would (planLoad),
// its retry budget replayed from the record (replayRestarts), and hands
// it what it held.
//
// Messages between the task actors and the root about wake-ups.
type (
	// armWake arms the wake-up of pid's task for at; after is its attempt
	// count (a wake-up of an earlier attempt is stale: timerDue).
	armWake struct {
		id    string
		pid   *actor.PID
		at    time.Time
		after int
	}
	// disarmWake: pid's task no longer waits for its wake-up.
	disarmWake struct {
		id  string
		pid *actor.PID
	}
	// idleTask: pid only waits for its wake-up, and offers to stop.
	idleTask struct {
		id   string
		pid  *actor.PID
		park parkedTask
	}
	// parkOK: the root holds the task's messages: stop if still idle.
	parkOK struct{}
	// parkStay: the actor is not idle any more; it stays.
	parkStay struct {
		id  string
		pid *actor.PID
	}
	// wakeTick: the root's timer fired: wake what is due.
	wakeTick struct{}
	// idleCounts asks the root how many task actors run, tasks are parked
	// and wake-ups armed (an idleCounts answers).
	idleCounts struct{ actors, parked, wakes int }
)

// parkedTask is what the root keeps of a task whose actor stopped idle.
type parkedTask struct {
	// epoch is the claim this member's actor held; 0 if it had not
	// claimed the task yet (its next actor claims it, as a loaded one does).
	epoch   uint64
	adopt   bool   // the unclaimed task may be claimed from another owner
	replyTo string // the member told of the task's changes
	state   messages.TaskState
	// actorID is the id of the actor that parked: its wake-up messages
	// may come after its end (protoactor hands the root its Terminated
	// first). Not its PID, which caches the actor itself.
	actorID string
	// stopping: its actor is still stopping; held are the messages that
	// came meanwhile, handed to the next actor.
	stopping bool
	held     []heldMsg
}

type heldMsg struct {
	msg    any
	sender *actor.PID
}

// receiveIdle handles the wake-up messages (true: msg was one).
func (r *rootActor) receiveIdle(c actor.Context, msg any) bool {
	switch msg := msg.(type) {
	case *armWake:
		if r.isChild(msg.id, msg.pid) || r.wasParked(msg.id, msg.pid) {
			r.wakes.set(msg.id, msg.at, msg.after)
			r.rearm(c)
		}
	case *disarmWake:
		if r.isChild(msg.id, msg.pid) || r.wasParked(msg.id, msg.pid) {
			r.wakes.cancel(msg.id)
			if p := r.parked[msg.id]; p != nil && !p.stopping {
				r.unpark(msg.id) // it finished as it stopped: nothing to wake
			}
		}
	case *idleTask:
		r.park(c, msg)
	case *parkStay:
		if p := r.parked[msg.id]; p != nil && p.stopping && r.isChild(msg.id, msg.pid) {
			r.unpark(msg.id)
			if r.draining {
				r.forward(c, msg.pid, &drain{}, nil)
			}
			for _, h := range p.held {
				r.forward(c, msg.pid, h.msg, h.sender)
			}
		}
	case *wakeTick:
		r.fire(c)
	case *actor.Stopping:
		if r.timer != nil {
			r.timer.Stop()
		}
		return false
	case *idleCounts:
		c.Respond(&idleCounts{actors: len(r.children), parked: len(r.parked), wakes: r.wakes.len()})
	default:
		return false
	}
	return true
}

// park accepts an idle actor's offer to stop, unless its wake-up is due
// already, or the member drains or is fenced (its actors stay, as they
// did before idle tasks were parked).
func (r *rootActor) park(c actor.Context, msg *idleTask) {
	at, armed := r.wakes.armed(msg.id)
	if !armed || !at.After(r.m.now()) || r.draining || r.m.fenced() || !r.isChild(msg.id, msg.pid) || r.parked[msg.id] != nil {
		return
	}
	if r.parked == nil {
		r.parked = map[string]*parkedTask{}
	}
	p := msg.park
	p.stopping, p.actorID = true, msg.pid.GetId()
	r.parked[msg.id] = &p
	r.countParked(p.state, 1)
	c.Send(msg.pid, &parkOK{})
}

// unpark forgets the parked task id (its actor stays, or a new one
// starts) and returns what was kept of it; nil if it was not parked.
func (r *rootActor) unpark(id string) *parkedTask {
	p := r.parked[id]
	if p != nil {
		delete(r.parked, id)
		r.countParked(p.state, -1)
	}
	return p
}

// countParked keeps the owned counts (metrics.go) of parked tasks, which
// have no actor to count them.
func (r *rootActor) countParked(s messages.TaskState, n int64) {
	if r.m.metrics != nil && s != messages.TaskState_TASK_STATE_UNSPECIFIED && int(s) < len(r.m.owned) {
		r.m.owned[s].Add(n)
	}
}

// toTask hands msg to the actor of task id, starting one if the task is
// parked (held while its parked actor stops). False: no actor of this
// member holds the task (or the member drains or is fenced and starts none).
func (r *rootActor) toTask(c actor.Context, id string, msg any, sender *actor.PID) bool {
	p := r.parked[id]
	switch {
	case p != nil && p.stopping:
		p.held = append(p.held, heldMsg{msg: msg, sender: sender})
	case p == nil && r.children[id] != nil:
		r.noteSent(id, r.children[id], msg, sender)
		r.forward(c, r.children[id], msg, sender)
	case p == nil, r.draining || r.m.fenced():
		return false
	default:
		r.spawn(c, &activate{id: id}) // resumes it as parked (spawn)
		if pid := r.children[id]; pid != nil {
			r.noteSent(id, pid, msg, sender)
		}
		r.forward(c, r.children[id], msg, sender)
	}
	return true
}

// wasParked reports whether pid is the actor that parked task id.
func (r *rootActor) wasParked(id string, pid *actor.PID) bool {
	p := r.parked[id]
	return p != nil && pid != nil && p.actorID == pid.GetId()
}

// isChild reports whether pid is the actor of task id (a nil PID's Equal
// panics).
func (r *rootActor) isChild(id string, pid *actor.PID) bool {
	child := r.children[id]
	return child != nil && pid != nil && child.Equal(pid)
}

func (r *rootActor) forward(c actor.Context, pid *actor.PID, msg any, sender *actor.PID) {
	if pid == nil {
		return
	}
	if sender != nil {
		c.RequestWithCustomSender(pid, msg, sender)
		return
	}
	c.Send(pid, msg)
}

// resumeParked fills in an activation of a parked task from what was kept
// of it, and forgets it: the actor about to start serves it.
func (r *rootActor) resumeParked(msg *activate) {
	p := r.unpark(msg.id)
	if p == nil {
		return
	}
	r.wakes.cancel(msg.id) // the new actor arms its own wake-up again
	if msg.from == "" {
		msg.from = p.replyTo
	}
	msg.adopt = msg.adopt || p.adopt
	msg.resume = p.epoch
}

// idleGone handles the end of the actor of task id: a parked one's
// messages that came while it stopped go to a new actor; any other's
// wake-up is dropped with it (a new actor arms its own).
func (r *rootActor) idleGone(c actor.Context, id string) {
	p := r.parked[id]
	if p == nil || !p.stopping {
		r.wakes.cancel(id)
		r.unpark(id)
		return
	}
	p.stopping = false
	held := p.held
	p.held = nil
	if len(held) == 0 {
		if _, armed := r.wakes.armed(id); !armed {
			r.unpark(id) // it stopped for good, not parked (it finished)
		}
		return
	}
	if r.draining || r.m.fenced() {
		for _, h := range held {
			if _, ok := h.msg.(*controlTask); ok && h.sender != nil {
				c.Send(h.sender, &controlReply{err: errNotActive}) // written by the manager instead
			}
		}
		return
	}
	r.spawn(c, &activate{id: id})
	for _, h := range held {
		r.forward(c, r.children[id], h.msg, h.sender)
	}
}

// fire wakes the tasks that are due: a parked one gets a new actor, a
// live one its startAttempt; and arms the timer for the next.
func (r *rootActor) fire(c actor.Context) {
	if r.draining {
		return
	}
	if r.m.fenced() {
		r.armTimer(c, r.m.now().Add(time.Second)) // woken by resume, or checked again
		return
	}
	for _, w := range r.wakes.due(r.m.now()) {
		r.toTask(c, w.id, &startAttempt{after: w.after}, nil)
	}
	r.rearm(c)
}

// rearm arms the root's one timer for the earliest wake-up.
func (r *rootActor) rearm(c actor.Context) {
	if at, ok := r.wakes.next(); ok && !r.draining {
		r.armTimer(c, at)
	} else if r.timer != nil {
		r.timer.Stop()
		r.timer, r.timerAt = nil, time.Time{}
	}
}

func (r *rootActor) armTimer(c actor.Context, at time.Time) {
	if r.timer != nil {
		if r.timerAt.Equal(at) {
			return
		}
		r.timer.Stop()
	}
	self, system := c.Self(), c.ActorSystem()
	r.timer, r.timerAt = time.AfterFunc(at.Sub(r.m.now()), func() { system.Root.Send(self, &wakeTick{}) }), at
}

// scheduleAt arms the wake-up of the task's next attempt at at, in the
// root's timer heap: the task holds no timer of its own.
func (a *taskActor) scheduleAt(at time.Time) {
	if a.draining {
		return
	}
	a.armed, a.parkAsked = true, false
	a.m.system.Root.Send(a.m.root, &armWake{id: a.id, pid: a.self, at: at, after: int(a.rec.Task.GetStatus().GetAttempts())})
}

// stopRetryTimer drops the task's wake-up, if armed.
func (a *taskActor) stopRetryTimer() {
	if a.armed {
		a.armed = false
		a.m.system.Root.Send(a.m.root, &disarmWake{id: a.id, pid: a.self})
	}
}

// idle reports whether the actor only waits for its wake-up: nothing runs,
// nothing is being written or awaited, and the task is not finished.
func (a *taskActor) idle() bool {
	st := a.rec.Task.GetStatus()
	return a.armed && a.tree != nil && a.attempt == nil && a.pending == nil && a.terminating == nil &&
		a.deps.cancel == nil && !a.unstored && a.hold == nil && a.firstWrite == nil && !a.draining &&
		st.GetWaiting() == "" && (st.GetState() == messages.TaskState_TASK_STATE_RETRYING || st.GetState() == messages.TaskState_TASK_STATE_PENDING)
}

// offerPark offers the root to stop this actor once it only waits (after
// every message; once per wake-up armed).
func (a *taskActor) offerPark() {
	if a.parkAsked || !a.m.cfg.ParkIdle || !a.idle() {
		return
	}
	a.parkAsked = true
	st := a.rec.Task.GetStatus()
	p := parkedTask{replyTo: a.replyTo, state: st.GetState()}
	if a.unclaimed {
		p.adopt = a.adopt
	} else {
		p.epoch = st.GetEpoch()
	}
	a.m.system.Root.Send(a.m.root, &idleTask{id: a.id, pid: a.self, park: p})
}

// parked answers the root's parkOK: stop, keeping the wake-up armed, if
// still idle; else stay.
func (a *taskActor) parked() {
	if !a.idle() {
		a.m.system.Root.Send(a.m.root, &parkStay{id: a.id, pid: a.self})
		return
	}
	a.armed = false // the root keeps it
	a.c().Stop(a.self)
}
