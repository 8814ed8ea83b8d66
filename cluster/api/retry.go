package api

import "time"

// RetryRequest is the optional body of POST /v1/tasks/{id}/retry, which
// sends a failed or cancelled task round again with a fresh retry budget:
// a reason and a request id, as a restart's. The same request id again
// (the client's retry after a lost answer) changes nothing.
type RetryRequest = RestartRequest

// RetryManyRequest is the body of POST /v1/tasks:retry: it retries every
// failed or cancelled task that matches, up to MaxRetryMany per request.
// Empty fields match everything.
type RetryManyRequest struct {
	Kind   string            `json:"kind,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	JobID  string            `json:"job_id,omitempty"`
	// States narrows the tasks to failed or to cancelled ones (absent:
	// both).
	States []string `json:"states,omitempty"`
	// FailedSince keeps the tasks that ended at or after it.
	FailedSince *time.Time `json:"failed_since,omitempty"`
	// DryRun counts and names the tasks that would be retried, and
	// retries none.
	DryRun bool   `json:"dry_run,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// MaxRetryMany is the most tasks one POST /v1/tasks:retry sends round
// again; More in its answer says more matched (ask again).
const MaxRetryMany = 1000

// RetryManyResponse answers POST /v1/tasks:retry: the tasks retried (or,
// in a dry run, that would be), those that could not be with why, and
// whether more matched than one request takes.
type RetryManyResponse struct {
	DryRun bool              `json:"dry_run,omitempty"`
	Count  int               `json:"count"`
	IDs    []string          `json:"ids"`
	Failed map[string]string `json:"failed,omitempty"`
	More   bool              `json:"more,omitempty"`
}
