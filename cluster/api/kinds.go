package api

import "encoding/json"

// Kind types: what a kind is.
const (
	KindTask  = "task"
	KindGrain = "grain"
)

// Kind is a kind a node hosts, as GET /v1/kinds lists it.
type Kind struct {
	Name string `json:"name"`
	// Type is "task" or "grain".
	Type string `json:"type"`
	// Defaults is a task kind's policy, which a submit's policy overrides
	// field by field within the kind's limits.
	Defaults *Policy `json:"defaults,omitempty"`
	// Singleton: a grain kind with at most one activation in the cluster.
	Singleton bool `json:"singleton,omitempty"`
	// Durable: a grain kind whose state is stored.
	Durable bool `json:"durable,omitempty"`
	// Example is a payload (task kind) or request (grain kind) the kind
	// accepts, when its author gave one: what to start from.
	Example json.RawMessage `json:"example,omitempty"`
}

// KindList is the body of GET /v1/kinds: the kinds a node hosts, task kinds
// first, each sorted by name.
type KindList struct {
	Kinds []Kind `json:"kinds"`
	Count int    `json:"count"`
}
