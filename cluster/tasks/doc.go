// Package tasks is Granary's task manager: it turns submissions into durable
// task records and runs each task under a supervision tree.
//
//	tasks (root actor; restarts a crashed task actor with backoff)
//	└── task actor, one per unfinished task this member owns
//	    └── attempt actor, one at a time, running the handler
//
// The task actor is the supervisor of its attempts: it implements
// actor.SupervisorStrategy, so a failed attempt (error, panic, attempt or
// heartbeat time-out, deadline) reaches its HandleFailure through
// protoactor-go's supervision path, and supervisor.Tree decides: retry after
// backoff, stop as failed (permanent error, deadline) or give up when the
// restart budget (max attempts) is spent.
//
// The decisions are apart from the effects: what a task does next (start,
// retry after backoff, fail for good, escalate to its job, resume or adopt
// it, give it up after a conflict) is a pure function of its stored
// status, the event and the time, in core.go (planLoad, planDue,
// planFailure, planJob, conflictVerdict, attemptCheck, ...), tested
// without actors, stores or timers; the actors only carry out the plans
// they return (taskActor.perform).
//
// Tasks sharing a job id form one more level of the tree: the job is the
// supervisor of its tasks (PlanJob, pure, over supervisor.Tree). A task
// that gives up escalates to its job, which restarts it with a fresh budget,
// together with the tasks its strategy names (one_for_one, one_for_all,
// rest_for_one), while the job's own restart budget lasts; then the job
// fails and those tasks are stopped. Restarts and cancels of tasks owned by
// other members are forwarded to them (Peers.Forward).
//
// Every change of a task is a check-and-set on its store revision, made only
// by the member whose claim (epoch) stands, so a stale owner can never
// commit: execution is at-least-once, the committed result exactly-once.
//
// A task created on its owner runs its first attempt before it is written
// (Config.HoldFirstWrite): once the store says the id is new
// (store.Prober), the attempt starts, and the task actor's first write
// creates the task as the attempt left it, finished if it ended within the
// hold, running otherwise. The submit is answered with that write, so it is
// still durable when it returns, and a short task costs one write instead
// of two.
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
