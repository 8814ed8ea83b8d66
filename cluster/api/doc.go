// Package api defines the JSON shapes of Granary's HTTP API, shared by the
// server (cluster/httpapi) and the Go client (cluster/client), and their
// conversion from the stored protobuf records.
//
// The HTTP API in one page (every route of cluster/httpapi; a test keeps
// this list and the router's in step):
//
//	POST   /v1/tasks                      SubmitRequest -> Status (201 created, 200 when the id already existed); ?wait=30s answers once it finished
//	POST   /v1/tasks:batch                SubmitBatchRequest -> SubmitBatchResponse: each task submitted as if alone, results in order
//	GET    /v1/tasks                      TaskList, newest first, a page at a time: ?state=S[,S] &kind= &label=k=v &job= &limit= &cursor=
//	GET    /v1/tasks/{id}                 Status; ?wait=30s&index=N blocks until the task's revision passes N
//	DELETE /v1/tasks/{id}                 Status of the cancelled task
//	POST   /v1/tasks/{id}/restart         RestartRequest (optional) -> Status: the attempt stopped, run again with a fresh retry budget
//	POST   /v1/tasks/{id}/retry           RetryRequest (optional) -> Status: a failed or cancelled task sent round again with a fresh budget
//	POST   /v1/tasks:retry                RetryManyRequest -> RetryManyResponse: failed or cancelled tasks by filter (kind, label, job, failed since), or a dry run's count
//	POST   /v1/tasks:recount              -> TaskStats: the counts rebuilt from a scan of every task (write role; after an upgrade from a version that kept none)
//	GET    /v1/tasks:stats                TaskStats: counts by state and kind (the console's)
//	GET    /v1/jobs                       JobList: job records, most recently changed first, each with its state
//	PUT    /v1/jobs/{id}                  JobSpec -> JobStatus: declares a job, a supervisor (201 declared, 200 already so, 409 declared otherwise)
//	GET    /v1/jobs/{id}                  JobStatus (its declaration, state and tasks)
//	GET    /v1/jobs/{id}/tasks            TaskList: a page of the job's tasks
//	GET    /v1/jobs/{id}/tree             JobTree: the job and its descendants, to any depth
//	DELETE /v1/jobs/{id}                  JobTree of the stopped job (200 all ended, 202 children still exiting)
//	PUT    /v1/schedules/{id}             ScheduleSpec -> Schedule: declares (201) or changes (200) a recurring schedule; each run a task
//	GET    /v1/schedules                  ScheduleList: every schedule with its next run and counts
//	GET    /v1/schedules/{id}             Schedule
//	DELETE /v1/schedules/{id}             Schedule as it stood: no run starts after it; its runs stay
//	POST   /v1/schedules/{id}/pause       Schedule: due times pass without runs
//	POST   /v1/schedules/{id}/resume      Schedule: from now, the paused time not caught up
//	POST   /v1/grains/{kind}/{id}         any JSON request -> GrainReply (calls the grain through any member)
//	GET    /v1/grains/{kind}/{id}/state   GrainState: a durable grain's stored state and reminders
//	DELETE /v1/grains/{kind}/{id}/state   GrainState: the stored state cleared (the next activation starts from zero)
//	GET    /v1/members                    MemberList: the healthy members
//	GET    /v1/member                     MemberReport: what the member that answers says about itself
//	GET    /v1/cluster                    ClusterReport: every registered member, healthy or not, with its report
//	GET    /v1/kinds                      KindList: the kinds the node hosts, their defaults and example payloads
//	GET    /healthz                       Health
//
// Errors answer with ErrorBody and a status code matching its Code.
// Durations are Go duration strings ("1.5s", "250ms", "2m").
package api
