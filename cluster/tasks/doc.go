// Package tasks is Granary's task manager: it turns submissions into durable
// task records and runs each task under a supervision tree.
//
//	tasks (root actor; restarts a crashed task actor with backoff)
//	└── task actor, one per unfinished task this member owns
//	    └── attempt, one at a time: the handler on a goroutine of its own
//
// The task actor is the supervisor of its attempts: it runs each on its
// own goroutine (a panic is recovered there), watches its time-outs, and a
// failed attempt (error, panic, attempt or heartbeat time-out, deadline)
// goes to the task's supervisor.Tree, which decides: retry after backoff,
// stop as failed (permanent error, deadline) or give up when the restart
// budget (max attempts) is spent. An attempt is not a protoactor actor of
// its own (it was until issue #23: an actor per attempt cost about 1.5 KB
// of the 4 KB a running task may cost); protoactor's supervision carries
// the task actors' own crashes, to the root.
//
// The decisions are apart from the effects: what a task does next (start,
// retry after backoff, fail for good, wait for its job, resume or adopt
// it, give it up after a conflict) is a pure function of its stored
// status, the event and the time, in core.go (planLoad, planDue,
// planFailure, holdOf, terminateStatus, conflictVerdict, attemptCheck,
// ...), tested without actors, stores or timers; the actors only carry out
// the plans they return (taskActor.perform).
//
// Tasks sharing a job id (and jobs naming it as parent) form one more
// level of the tree: the job is the supervisor of its children, a job
// actor (job_actor.go) around supervisor.JobMachine on the member holding
// the job's claim. A task that fails for good waits, held, and reports to
// its job, which restarts the children its strategy names (one_for_one,
// one_for_all, rest_for_one): it terminates them in reverse start order
// (OpTerminate: the attempt is cancelled, waited for up to the job's
// shutdown time, then abandoned), then starts them in start order, while
// its restart budget lasts; then it terminates every child and fails. Each
// decision is stored in the job's record before it is acted on, so a
// member that adopts the job finishes it (AdoptJobs). Terminates and job
// events for other members go through JobPeers.
//
// A child joins its job through a gate, as OTP's start_child is serialised
// with its supervisor's decisions: a task of a job is stored before
// anything of it runs, then reads its job and the job's ancestors, and
// starts only if none is shutting down or has ended (joingate.go). A job
// that shuts down sweeps its subtree as stored once that decision is
// written, and terminates what it finds that it had not heard of (a task
// that passed the gate just before; a child job that ran again when a task
// joined it after it completed) before it ends (job_sweep.go).
//
// Every change of a task is a check-and-set on its store revision, made only
// by the member whose claim (epoch) stands, so a stale owner can never
// commit: execution is at-least-once, the committed result exactly-once.
//
// A task created on its owner, in no job, runs its first attempt before it
// is written (Config.HoldFirstWrite): once the store says the id is new
// (store.Prober), the attempt starts, and the task actor's first write
// creates the task as the attempt left it, finished if it ended within the
// hold, running otherwise. The submit is answered with that write, so it is
// still durable when it returns, and a short task costs one write instead
// of two. A submit whose id its caller made just now (Submission.Fresh, or
// no id) skips the question: one store round trip in all. The write still
// checks that the id is free, so a wrong hint stores nothing twice; the
// attempt it ran ahead is dropped.
//
// An attempt that ends (time-out, cancel, restart) while its handler,
// ignoring its context, still runs is abandoned: its goroutine cannot be
// stopped, so it is counted (Manager.Abandoned, a metric) and capped per
// kind and per member (Config.Abandoned); past a cap, a due attempt waits,
// the reason in the task's status, until abandoned handlers return
// (abandoned.go). Their late results are dropped.
//
//	m, _ := tasks.New(tasks.Config{Member: "n1", Store: st, Registry: reg, StoreTimeout: 10 * time.Second, ...})
//	_ = m.Start(ctx)                        // resumes this member's unfinished tasks
//	rec, created, err := m.Submit(ctx, tasks.Submission{Kind: "resize", Payload: p})
//	rec, err = m.Wait(ctx, id, rec.Revision) // the next change
package tasks
