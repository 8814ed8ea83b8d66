package benchmarks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRunTraceNamesTheLastIdentities checks that a slow run's trace names
// the identities that answered last, with the errors their calls got,
// and keeps the timeline in order.
func TestRunTraceNamesTheLastIdentities(t *testing.T) {
	early := &identityTrace{id: "f0-1", via: "n2", answeredBy: "n2", at: 2 * time.Second}
	late := &identityTrace{id: "f0-7", via: "n3", answeredBy: "n3", at: 13 * time.Second}
	late.note(time.Second, errors.New("unavailable"))          // the client's own retry: no try
	late.try(1500*time.Millisecond, errors.New("unavailable")) // a repeat: kept once
	late.try(11*time.Second, errors.New("deadline exceeded"))
	late.try(13*time.Second, nil)
	tr := &runTrace{run: 2, victim: "n1", took: 13 * time.Second, ids: []*identityTrace{early, late}}
	tr.events = claimsOnly([]traceEvent{
		{1900 * time.Millisecond, "consul: victim's session invalidated"},
		{2 * time.Second, "activation key claimed by n2: f0-1"},
		{2100 * time.Millisecond, "activation key claimed by n2: f0-3"},
		{12900 * time.Millisecond, "activation key claimed by n3: f0-7"},
	}, tr.lastIdentities())

	if got := tr.lastIdentities(); len(got) != 1 || got[0] != late {
		t.Fatalf("last identities = %v, want only f0-7", got)
	}
	if late.tries != 3 || len(late.errs) != 2 {
		t.Fatalf("f0-7: %d tries, errors %v; want 3 tries, 2 distinct errors", late.tries, late.errs)
	}
	s := tr.String()
	for _, want := range []string{"run 3: killed n1", "13.00s after the kill", "f0-7 answered by n3 via n3 after 3 tries",
		"f0-7 via n3 got: deadline exceeded", "claimed by n3: f0-7", "first activation key claimed by n2: f0-1", "last activation key claimed by n2: f0-3"} {
		if !strings.Contains(s, want) {
			t.Errorf("trace lacks %q:\n%s", want, s)
		}
	}
	if i, j := strings.Index(s, "session invalidated"), strings.Index(s, "deadline exceeded"); i < 0 || j < i {
		t.Errorf("timeline out of order:\n%s", s)
	}
}
