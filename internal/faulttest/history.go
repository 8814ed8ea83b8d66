package faulttest

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Answer is one grain call as the caller saw it.
type Answer struct {
	Identity string
	Via      string    // the member the call was sent to
	Sent     time.Time // just before the request left the caller
	Answered time.Time // when the caller had the whole answer
	// Member and Activation answered; both "" when the call failed.
	Member, Activation string
	Err                string // why the call failed; "" on success
}

func (a Answer) String() string {
	if a.Err != "" {
		return fmt.Sprintf("%s via %s: failed: %s", a.Identity, a.Via, a.Err)
	}
	return fmt.Sprintf("%s via %s: %s/%s", a.Identity, a.Via, a.Member, a.Activation)
}

// History records answers from many goroutines.
type History struct {
	mu      sync.Mutex
	answers []Answer
}

// Add records a.
func (h *History) Add(a Answer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answers = append(h.answers, a)
}

// Answers returns a copy of the record, in the order it was added.
func (h *History) Answers() []Answer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Answer(nil), h.answers...)
}

// StaleAnswer is an answer no correct cluster gives: it came from an
// activation that a newer one had already replaced, in a call sent after
// the newer one had answered.
type StaleAnswer struct {
	Stale      Answer
	Superseded Answer // the newer activation's first answer
}

func (s StaleAnswer) String() string {
	return fmt.Sprintf("%s: answered by %s/%s (sent %s after %s/%s had answered) instead of the newer activation",
		s.Stale.Identity, s.Stale.Member, s.Stale.Activation, s.Stale.Sent.Sub(s.Superseded.Answered).Round(time.Millisecond),
		s.Superseded.Member, s.Superseded.Activation)
}

// StaleAnswers checks the history against the rule an identity's
// activations must follow: once an activation has answered, every call sent
// afterwards is answered by it or by a newer one, never by one it replaced.
// Activations are ordered by their first answer. Calls that were already
// under way when the newer activation answered are not judged: a reply
// already on its way may arrive late, and so may a request the old holder
// had begun before its lease ran out.
func (h *History) StaleAnswers() []StaleAnswer {
	byIdentity := map[string][]Answer{}
	for _, a := range h.Answers() {
		if a.Err == "" && a.Activation != "" {
			byIdentity[a.Identity] = append(byIdentity[a.Identity], a)
		}
	}
	var out []StaleAnswer
	for _, answers := range byIdentity {
		out = append(out, staleAnswers(answers)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stale.Sent.Before(out[j].Stale.Sent) })
	return out
}

// staleAnswers applies StaleAnswers' rule to one identity's answers.
func staleAnswers(answers []Answer) []StaleAnswer {
	sort.SliceStable(answers, func(i, j int) bool { return answers[i].Answered.Before(answers[j].Answered) })
	first := map[string]Answer{} // activation -> its first answer
	var order []string           // activations by first answer
	for _, a := range answers {
		if _, seen := first[a.Activation]; !seen {
			first[a.Activation] = a
			order = append(order, a.Activation)
		}
	}
	// supersededBy[x] is the earliest first answer of an activation newer
	// than x; answers is sorted, so that of the next one in order.
	supersededBy := map[string]Answer{}
	for i := 0; i+1 < len(order); i++ {
		supersededBy[order[i]] = first[order[i+1]]
	}
	var out []StaleAnswer
	for _, a := range answers {
		newer, ok := supersededBy[a.Activation]
		if ok && a.Sent.After(newer.Answered) {
			out = append(out, StaleAnswer{Stale: a, Superseded: newer})
		}
	}
	return out
}
