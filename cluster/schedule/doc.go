// Package schedule runs tasks again and again: recurring schedules, each a
// cron spec in a time zone with an overlap policy and the task every run
// submits.
//
// The pure part reads specs and plans firings with an injected clock:
// Parse (five cron fields, @hourly-style shortcuts, @every <duration>),
// Spec.Next (the next due time, daylight saving changes included) and Plan
// (which due slots run, which an overlap policy skips or queues, which the
// catch-up window misses). The Service keeps schedules in the store
// (store.Schedules: both stores, under keys of their own) and fires, on
// every member, the schedules that member owns by placement (the owner of
// the template's kind and the schedule's id among the live members, as for
// a task), so a member's death moves its schedules to the survivors with
// its tasks.
//
// Each run is an ordinary task whose id is RunID(schedule, slot): the
// idempotency key that keeps a run single across failover. A firing writes
// its decision before it submits (fire.go), so a member killed between the
// two leaves the runs for the next owner to submit: no run is lost, and
// none is doubled.
//
// Catch-up: slots that passed while no member could fire (the firing
// member died, the cluster was down) run when a member fires the schedule
// again, oldest first, if they are within the schedule's catch-up window
// (Config.CatchUp by default: an hour) and among the latest
// Config.MaxCatchUp; older ones are counted as missed. The overlap policy
// applies to them as to any due slot: under skip only the first runs (the
// others find it running), under queue_one the first runs and one more
// waits, under allow all run. A paused schedule catches nothing up: it
// resumes from the time it is resumed.
//
//	svc, _ := schedule.New(cfg) // store, task manager, registry, placement
//	svc.Start()
//	rec, created, err := svc.Put(ctx, &messages.Schedule{Id: "nightly", Cron: "0 3 * * *",
//		TimeZone: "Europe/Paris", Overlap: messages.Overlap_OVERLAP_SKIP,
//		Template: &messages.TaskTemplate{Kind: "report"}})
package schedule
