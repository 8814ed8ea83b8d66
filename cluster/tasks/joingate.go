package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

// The join gate closes the window between a task joining its job and the
// job's end (issue #20: a child of a stopped job ran on, and committed,
// because it was submitted as the job ended). A task of a job that its
// job has never started (job round 0) reads its job and the job's
// ancestors before each attempt it starts, once its own record is stored,
// and starts only if none of them is ending or has ended:
//
//   - one shutting down: it waits (gateWait), and reads again; the
//     shutdown's sweep (job_sweep.go) finds it and terminates it, or the
//     job ends and it is refused;
//   - one that ended failed or stopped: it is refused, cancelled without
//     running;
//   - otherwise it starts.
//
// A job's shutdown is stored before its sweep lists the job's tasks, so a
// task stored before that listing is found and terminated, and a task
// stored after it reads the shutdown here: no child outlives its job
// unseen. A task the job started (job round > 0) is one it knows, and
// terminates itself when it ends.

// gateVerdict is what the join gate decides.
type gateVerdict int

const (
	gatePass gateVerdict = iota
	gateWait
	gateRefuse
)

// joinGate is a task actor's state at its join gate.
//
// A task actor holds one only while a read is in flight or due (a member
// holds a task actor per running task, and a plan is 150 bytes).
type joinGate struct {
	// plan is the step the gate holds back.
	plan  plan
	retry *time.Timer
	// waited is how many reads in a row said wait, or failed.
	waited int
}

// joinChecked carries the gate's read back to the task actor.
type joinChecked struct {
	verdict gateVerdict
	reason  string
	err     error
}

// gateWaitFor is how long a task whose job shuts down waits before it
// reads the job again, at first: about a child's exit, short next to a
// shutdown's 5 s. It doubles with each read that says wait, up to
// gateWaitMax: a job stuck shutting down (its member gone, not yet
// adopted) must not be read four times a second by each task waiting on
// it.
const (
	gateWaitFor = 250 * time.Millisecond
	gateWaitMax = 5 * time.Second
)

// joinVerdict is the pure rule of the gate, over a task's job's record and
// its ancestors' (the job first); nil records (a job with no record yet)
// let it pass.
func joinVerdict(chain []*messages.Job) (gateVerdict, string) {
	for _, j := range chain {
		run := j.GetRun()
		switch run.GetPhase() {
		case supervisor.PhaseShuttingDown.String():
			return gateWait, ""
		case supervisor.PhaseDone.String():
			if end := run.GetEnd(); end == supervisor.EndFailed.String() || end == supervisor.EndStopped.String() {
				return gateRefuse, fmt.Sprintf("job %s had %s when this task joined it: %s", j.GetId(), end, run.GetCause())
			}
		}
	}
	return gatePass, ""
}

// gated reports whether a step must pass the gate first.
func (a *taskActor) gated(p plan) bool {
	st := a.rec.Task.GetStatus()
	return (p.step == stepStart || p.step == stepRun) && a.rec.Task.GetSpec().GetJobId() != "" && st.GetJobRound() == 0 && st.GetJobHold() == ""
}

// waitForJob holds back p (true: held) until the gate has read the job.
func (a *taskActor) waitForJob(p plan) bool {
	if !a.gated(p) {
		return false
	}
	if a.joinPassed {
		a.joinPassed = false
		return false
	}
	if a.join == nil {
		a.join = &joinGate{plan: p}
		a.readJobs()
	}
	return true
}

// readJobs reads the task's job chain off the actor; the verdict comes
// back as joinChecked.
func (a *taskActor) readJobs() {
	self, system, m, job := a.self, a.c().ActorSystem(), a.m, a.rec.Task.GetSpec().GetJobId()
	m.jobs.Go(func() {
		ctx, cancel := context.WithTimeout(m.jobs.Context(), 3*m.cfg.StoreTimeout)
		defer cancel()
		chain, err := m.jobChain(ctx, job)
		out := &joinChecked{err: err}
		if err == nil {
			out.verdict, out.reason = joinVerdict(chain)
		}
		system.Root.Send(self, out)
	})
}

// receiveJoin handles the gate's verdict (true: msg was one).
func (a *taskActor) receiveJoin(msg any) bool {
	switch msg := msg.(type) {
	case *joinChecked:
		a.joinChecked(msg)
	case *joinRead:
		if a.join != nil {
			a.readJobs()
		}
	default:
		return false
	}
	return true
}

// joinRead: read the job chain again (a wait or an error is over).
type joinRead struct{}

func (a *taskActor) joinChecked(msg *joinChecked) {
	if a.join == nil {
		return // dropped meanwhile: the task was cancelled or terminated
	}
	switch {
	case msg.err != nil || msg.verdict == gateWait:
		if msg.err != nil {
			a.logger().Warn("reading the task's job failed; reading it again before the attempt starts", "err", msg.err)
		}
		self, system := a.self, a.c().ActorSystem()
		wait := min(gateWaitFor<<min(a.join.waited, 5), gateWaitMax)
		a.join.waited++
		a.join.retry = time.AfterFunc(wait, func() { system.Root.Send(self, &joinRead{}) })
	case msg.verdict == gateRefuse:
		a.dropJoin()
		a.logger().Info("a task joined its job as the job ended; cancelling it", "reason", msg.reason)
		a.cancel(msg.reason)
	default:
		p := a.join.plan
		a.dropJoin()
		a.joinPassed = true
		a.perform(p)
	}
}

// dropJoin ends the wait at the gate (the task is cancelled, terminated,
// or goes through).
func (a *taskActor) dropJoin() {
	if a.join != nil && a.join.retry != nil {
		a.join.retry.Stop()
	}
	a.join = nil
}

// jobChain reads the records of job and its ancestors, job first, up to
// MaxJobDepth levels; a job with no record ends the chain.
func (m *Manager) jobChain(ctx context.Context, job string) ([]*messages.Job, error) {
	var chain []*messages.Job
	for id := job; id != "" && len(chain) <= MaxJobDepth; {
		j, err := m.jobRecord(ctx, id)
		if err != nil || j == nil {
			return chain, err
		}
		chain = append(chain, j)
		id = j.GetParent()
	}
	return chain, nil
}
