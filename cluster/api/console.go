package api

import "time"

// MemberReport is the body of GET /v1/member: what one member says about
// itself, for the console and operators. It names no address.
type MemberReport struct {
	ID string `json:"id"`
	// Fenced: the member may not act for the cluster now (its lease with
	// Consul lapsed, or it has not joined yet). Always false embedded.
	Fenced bool `json:"fenced"`
	// FenceReason says why it is fenced ("" when it is not).
	FenceReason string `json:"fence_reason,omitempty"`
	// LeaseAge is how long ago the last lease renewal Consul acknowledged
	// was sent; absent embedded (no lease) or before the first renewal.
	LeaseAge *Duration `json:"lease_age,omitempty"`
	// Kinds are the task and grain kinds it hosts.
	Kinds []string `json:"kinds"`
	// Version is what it is built from (see Member.Version).
	Version string `json:"version,omitempty"`
	// Activations is its grain activation count; ByKind splits it by kind.
	Activations int               `json:"activations"`
	ByKind      []KindActivations `json:"activations_by_kind"`
	Running     int               `json:"running_attempts"`
	StartedAt   time.Time         `json:"started_at"`
	// Now is the member's wall clock when it answered: another member
	// compares it with its own (MemberOverall.ClockSkew), as reminders,
	// deadlines, backoff after a failover and retention read wall clocks
	// that different members wrote.
	Now time.Time `json:"now,omitzero"`
	// Abandoned counts attempts that ended (time-out, cancel, restart)
	// while their handler had not returned: goroutines of handlers that
	// ignore their context. AbandonedByKind splits it (kinds with none
	// left out); AbandonedCaps are the caps past which attempts wait.
	Abandoned       int            `json:"abandoned_attempts"`
	AbandonedByKind map[string]int `json:"abandoned_by_kind,omitempty"`
	AbandonedCaps   AbandonedCaps  `json:"abandoned_caps"`
}

// AbandonedCaps are a member's caps on abandoned attempts: past PerKind
// of one kind, that kind's attempts wait on the member; past PerMember of
// all kinds, every attempt does.
type AbandonedCaps struct {
	PerKind   int `json:"per_kind"`
	PerMember int `json:"per_member"`
}

// KindActivations is one grain kind's activations on a member: how many,
// and up to MaxSampleIdentities of their identities (sorted).
type KindActivations struct {
	Kind       string   `json:"kind"`
	Count      int      `json:"count"`
	Identities []string `json:"identities,omitempty"`
}

// MaxSampleIdentities bounds the identities a KindActivations names: a
// member may hold millions of activations; the console shows a few.
const MaxSampleIdentities = 20

// ClusterReport is the body of GET /v1/cluster: every member Consul knows,
// healthy or not, with what each says about itself.
type ClusterReport struct {
	// Member is the member that answered.
	Member  string          `json:"member"`
	Members []MemberOverall `json:"members"`
	Count   int             `json:"count"`
	At      time.Time       `json:"at"`
}

// MemberOverall is one member in GET /v1/cluster.
type MemberOverall struct {
	ID    string   `json:"id"`
	Kinds []string `json:"kinds"`
	// Version is what it is built from, as it registered (see
	// Member.Version): known even when it does not answer.
	Version string `json:"version,omitempty"`
	// Health is "healthy" (every Consul check passes: it is in the view),
	// "unhealthy" (registered, a check fails: dead, wedged or cut off,
	// until Consul reaps the registration) or "left".
	Health string `json:"health"`
	// Checks says which of its Consul checks fail, and their output.
	Checks string `json:"checks,omitempty"`
	// Report is what the member said about itself; nil if it did not
	// answer in time (Error says why).
	Report *MemberReport `json:"report,omitempty"`
	Error  string        `json:"error,omitempty"`
	// ClockSkew is the member's wall clock minus that of the member that
	// made the report, estimated from the middle of the round trip (absent
	// for itself, or without a report).
	ClockSkew *Duration `json:"clock_skew,omitempty"`
}

// Member health values of MemberOverall.
const (
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// TaskStats is the body of GET /v1/tasks:stats: the stored tasks counted
// by state and by kind, as of At.
type TaskStats struct {
	// Total counts every stored task.
	Total int `json:"total"`
	// ByState counts tasks by state; ByKind by kind, then by state.
	ByState map[string]int            `json:"by_state"`
	ByKind  map[string]map[string]int `json:"by_kind"`
	// At is when the counts were read. The store keeps them with its
	// writes, so each call reads them anew, at the same small cost however
	// many tasks are stored.
	At time.Time `json:"at"`
	// Took is how long reading them took.
	Took Duration `json:"took"`
}

// JobSummary is one job in GET /v1/jobs.
type JobSummary struct {
	ID          string `json:"id"`
	Strategy    string `json:"strategy"`
	Restarts    int    `json:"restarts"`
	MaxRestarts int    `json:"max_restarts"`
	Failed      bool   `json:"failed"`
	// State is the job's state in the names of GET /v1/jobs/{id}: pending,
	// running, completed, failed or cancelled.
	State     string    `json:"state"`
	Error     string    `json:"error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// Parent and Depth place a job in its tree (a root job has neither);
	// Declared: declared with PUT /v1/jobs/{id}, not made by its first task.
	Parent   string `json:"parent,omitempty"`
	Depth    int    `json:"depth,omitempty"`
	Declared bool   `json:"declared,omitempty"`
}

// JobList is the body of GET /v1/jobs: job records, most recently updated
// first, at most ?limit= of them.
type JobList struct {
	Jobs  []JobSummary `json:"jobs"`
	Count int          `json:"count"`
	// Total counts every job record (Jobs may hold fewer).
	Total int `json:"total"`
}
