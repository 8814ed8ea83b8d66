package tasks

import "github.com/asynkron/protoactor-go/actor"

// A control (cancel, restart, a job's terminate or start) that the root
// forwards to a task actor which then stops with it still in its mailbox
// is dropped unanswered: protoactor discards a stopped actor's queued
// messages. The task actor stops right after it reports a failure to its
// job, so a job's terminate crossing that report was lost, and the job
// waited out the control's whole time-out (its store time-out and the
// child's shutdown time) before it claimed the task itself. The root
// therefore keeps the controls it forwarded to each task actor, with their
// senders, until that actor is gone, and then dispatches again each one
// whose sender still waits: to the task's next actor, or answered
// errNotActive, upon which Manager.control writes it to the store itself.

// maxSentControls bounds what the root keeps per task actor: controls are
// rare (a client's cancel or restart, a job's terminate or start), and one
// dropped past the bound is only answered late (its time-out).
const maxSentControls = 8

// sentControls are the controls forwarded to one task actor.
type sentControls struct {
	task string
	msgs []heldMsg
}

// noteSent keeps a control forwarded with a sender to the actor pid of
// task id.
func (r *rootActor) noteSent(id string, pid *actor.PID, msg any, sender *actor.PID) {
	if _, ok := msg.(*controlTask); !ok || sender == nil {
		return
	}
	if r.sent == nil {
		r.sent = make(map[string]*sentControls)
	}
	s := r.sent[pid.Id]
	if s == nil {
		s = &sentControls{task: id}
		r.sent[pid.Id] = s
	}
	if len(s.msgs) == maxSentControls {
		s.msgs = append(s.msgs[:0], s.msgs[1:]...)
	}
	s.msgs = append(s.msgs, heldMsg{msg: msg, sender: sender})
}

// resendControls dispatches again the controls forwarded to who, an actor
// that has stopped, whose senders still wait for an answer (a sender that
// was answered is a future already gone from the registry).
func (r *rootActor) resendControls(c actor.Context, who *actor.PID) {
	s := r.sent[who.Id]
	if s == nil {
		return
	}
	delete(r.sent, who.Id)
	for _, h := range s.msgs {
		if _, waiting := c.ActorSystem().ProcessRegistry.GetLocal(h.sender.Id); !waiting {
			continue
		}
		if !r.toTask(c, s.task, h.msg, h.sender) {
			c.Send(h.sender, &controlReply{err: errNotActive})
		}
	}
}
