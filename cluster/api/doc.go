// Package api defines the JSON shapes of Granary's HTTP API, shared by the
// server (cluster/httpapi) and the Go client (cluster/client), and their
// conversion from the stored protobuf records.
//
// The HTTP API in one page:
//
//	POST   /v1/tasks              SubmitRequest -> Status (201 created, 200 when the id already existed); ?wait=30s answers once it finished
//	GET    /v1/tasks/{id}         Status; ?wait=30s&index=N blocks until the task's revision passes N
//	GET    /v1/tasks?state=S      TaskList
//	DELETE /v1/tasks/{id}         Status of the cancelled task
//	POST   /v1/tasks/{id}/restart RestartRequest (optional) -> Status: the attempt stopped, run again with a fresh retry budget
//	PUT    /v1/jobs/{id}          JobSpec -> JobStatus: declares a job, a supervisor (201 declared, 200 already so, 409 declared otherwise)
//	GET    /v1/jobs/{id}          JobStatus (its declaration, state and tasks)
//	GET    /v1/jobs/{id}/tree     JobTree: the job and its descendants, to any depth
//	DELETE /v1/jobs/{id}          JobTree of the stopped job (200 all ended, 202 children still exiting)
//	POST   /v1/grains/{kind}/{id} any JSON request -> GrainReply (calls the grain through any member)
//	GET    /v1/members            MemberList
//	GET    /healthz               Health
//
// Errors answer with ErrorBody and a status code matching its Code.
// Durations are Go duration strings ("1.5s", "250ms", "2m").
package api
