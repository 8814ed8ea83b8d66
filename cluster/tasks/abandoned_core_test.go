package tasks

import (
	"errors"
	"strings"
	"testing"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestAbandonVerdict(t *testing.T) {
	l := AbandonLimits{PerKind: 4, PerMember: 10}
	for _, c := range []struct {
		name          string
		ofKind, total int
		want          string // "" starts; else a piece of the reason
	}{
		{"none abandoned", 0, 0, ""},
		{"below both caps", 3, 9, ""},
		{"kind at its cap", 4, 4, "kind hang has 4 abandoned attempts on member n1 (cap 4): waiting for them to return"},
		{"kind past its cap", 6, 6, "kind hang has 6 abandoned attempts on member n1 (cap 4)"},
		{"member at its cap, kind below", 1, 10, "member n1 has 10 abandoned attempts (cap 10 for all kinds): waiting for them to return"},
		{"both: the member's reason", 4, 12, "member n1 has 12"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := abandonVerdict(l, "n1", "hang", c.ofKind, c.total)
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("abandonVerdict(%d, %d) = %q, want %q", c.ofKind, c.total, got, c.want)
			}
		})
	}
}

func TestAbandonLimitsValidate(t *testing.T) {
	if err := DefaultAbandonLimits().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, l := range []AbandonLimits{{}, {PerKind: 0, PerMember: 5}, {PerKind: 5, PerMember: 0}, {PerKind: 6, PerMember: 5}, {PerKind: -1, PerMember: 5}} {
		if err := l.Validate(); !errors.Is(err, errAbandonLimits) {
			t.Errorf("%+v: Validate() = %v, want errAbandonLimits", l, err)
		}
		cfg := DefaultConfig("n1")
		cfg.Store, cfg.Registry, cfg.Abandoned = struct{ store.Store }{}, actors.NewRegistry(), l
		if err := cfg.Validate(); !errors.Is(err, errAbandonLimits) {
			t.Errorf("Config.Validate with %+v = %v, want errAbandonLimits", l, err)
		}
	}
}

// TestAbandonedCountsAndWakes: a wait registered while blocked is woken by
// the return that frees its kind (or the member), once; a wait asked when
// not blocked registers nothing.
func TestAbandonedCountsAndWakes(t *testing.T) {
	a := newAbandonedAttempts(AbandonLimits{PerKind: 2, PerMember: 3}, "n1")
	if a.wait("hang", "t0", abandonWaiter{after: 1}) {
		t.Fatal("wait registered with nothing abandoned")
	}
	if reached := a.add("hang"); reached != "" {
		t.Errorf("first add reached a cap: %q", reached)
	}
	if reached := a.add("hang"); !strings.Contains(reached, "kind hang has 2") {
		t.Errorf("second add = %q, want the kind's cap reached", reached)
	}
	if reached := a.add("hang"); reached != "" {
		t.Errorf("third add = %q: the kind was at its cap already, nothing newly reached", reached)
	}
	if a.blocked("other") == "" {
		t.Error("other kind not blocked with the member at its cap (3)")
	}
	if !a.wait("hang", "t1", abandonWaiter{after: 4}) || !a.wait("other", "t2", abandonWaiter{after: 7}) {
		t.Fatal("waits not registered while blocked")
	}
	if w := a.returned("hang"); len(w) != 1 || w[0].after != 7 {
		t.Errorf("first return woke %+v, want only the other kind's waiter (member below its cap, hang still at 2)", w)
	}
	if w := a.returned("hang"); len(w) != 1 || w[0].after != 4 {
		t.Errorf("second return woke %+v, want hang's waiter", w)
	}
	if w := a.returned("hang"); len(w) != 0 || a.count("") != 0 || a.count("hang") != 0 {
		t.Errorf("last return woke %+v, count %d; want none, 0", w, a.count(""))
	}
}

func TestWaitStatus(t *testing.T) {
	entry := &messages.AttemptError{Attempt: 3, Cause: "member_lost"}
	for _, c := range []struct {
		name     string
		st       *messages.TaskStatus
		p        plan
		state    messages.TaskState
		attempts int32
		errs     int
	}{
		{"created running, never started: uncounted, pending", &messages.TaskStatus{State: running, Attempts: 1, Epoch: 1, StartedAt: timestamppb.New(t0)}, plan{step: stepRun}, pending, 0, 0},
		{"pending stays pending", &messages.TaskStatus{State: pending}, plan{step: stepStart, at: t0}, pending, 0, 0},
		{"retrying stays retrying", &messages.TaskStatus{State: retrying, Attempts: 2}, plan{step: stepStart, at: t0}, retrying, 2, 0},
		{"lost with its member: recorded, retrying", &messages.TaskStatus{State: running, Attempts: 3}, plan{step: stepStart, at: t0, entry: entry}, retrying, 3, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			waitStatus(c.st, c.p, "why", t0)
			if c.st.GetState() != c.state || c.st.GetAttempts() != c.attempts || len(c.st.GetErrors()) != c.errs || c.st.GetWaiting() != "why" {
				t.Errorf("status = %v, want %s, %d attempts, %d errors, waiting", c.st, c.state, c.attempts, c.errs)
			}
			if c.p.step == stepRun && c.st.GetStartedAt() != nil {
				t.Error("an attempt never started keeps its start")
			}
			startStatus(c.st, t0, nil)
			if c.st.GetWaiting() != "" {
				t.Error("startStatus keeps the waiting reason")
			}
		})
	}
}
