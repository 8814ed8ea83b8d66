package metrics

import (
	"time"
)

// CallCode is the outcome of a grain call, the code label of
// granary_grain_calls_total.
type CallCode uint8

// The outcomes of a grain call.
const (
	CallOK                CallCode = iota // answered
	CallHandler                           // the grain's handler returned an error or panicked
	CallInvalidArgument                   // refused: unknown kind, bad identity or payload
	CallUnavailable                       // no owner answered in time (failover, fenced, leaving)
	CallNoHost                            // no live member hosts the kind
	CallDeadlineExceeded                  // the caller's deadline passed
	CallCanceled                          // the caller gave up
	CallError                             // anything else
	CallConflict                          // refused: the request id was used for another request
	CallResourceExhausted                 // refused: the member's activation limit or the grain's queue is full
	numCallCodes
)

var callCodeNames = [numCallCodes]string{"ok", "handler", "invalid_argument", "unavailable", "no_host", "deadline_exceeded", "canceled", "error", "conflict", "resource_exhausted"}

func (c CallCode) String() string {
	if c < numCallCodes {
		return callCodeNames[c]
	}
	return "error"
}

// GrainKind is the instruments of one grain kind, resolved once, so a
// call's record is three atomic adds on its P's shard (sharded.go). Nil
// records nothing.
type GrainKind struct {
	family *shardedFamily
	series *shardedSeries
}

// Grain returns the instruments of a grain kind (made on first use, then
// cached). Pass only registered kinds.
func (m *Metrics) Grain(kind string) *GrainKind {
	if m == nil {
		return nil
	}
	if k, ok := m.grainKinds.Load(kind); ok {
		return k.(*GrainKind)
	}
	m.grainMu.Lock() // one series per kind, even when callers race
	defer m.grainMu.Unlock()
	if k, ok := m.grainKinds.Load(kind); ok {
		return k.(*GrainKind)
	}
	k := &GrainKind{family: m.grains, series: m.grains.add(kind)}
	m.grainKinds.Store(kind, k)
	return k
}

// Call records a call that ended with code after took.
func (k *GrainKind) Call(code CallCode, took time.Duration) {
	if k == nil {
		return
	}
	if code >= numCallCodes {
		code = CallError
	}
	k.family.observe(k.series, int(code), took.Seconds())
}

// Refusal is why grain work was refused or cut short, the reason label of
// granary_grain_refusals_total.
type Refusal uint8

// The reasons of granary_grain_refusals_total.
const (
	RefusedExpired         Refusal = iota // the caller's deadline passed before the request's turn
	RefusedQueueFull                      // the grain's queue was at its bound
	RefusedActivationLimit                // the member was at its limit of activations
	RefusedEvicted                        // an idle activation deactivated early under pressure
	RefusedAbandoned                      // a hung handler abandoned
	numRefusals
)

var refusalNames = [numRefusals]string{"expired", "queue_full", "activation_limit", "evicted", "abandoned"}

func (r Refusal) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

// GrainRefused counts one refusal of kind's work.
func (m *Metrics) GrainRefused(kind string, why Refusal) {
	if m != nil {
		m.grainRefusals.WithLabelValues(kind, why.String()).Inc()
	}
}

// ReadHungHandlers sets what reports the abandoned grain handlers still
// running.
func (m *Metrics) ReadHungHandlers(n func() int) {
	if m != nil {
		m.hungHandlers.set(func(report func(string, int)) { report("", n()) })
	}
}
