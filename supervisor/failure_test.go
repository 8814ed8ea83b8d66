package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFailureError(t *testing.T) {
	tests := []struct {
		f    Failure
		want string
	}{
		{Failure{Cause: CausePanic, Err: &PanicError{Value: "boom"}}, "panic: boom"},
		{Failure{Cause: CauseError, Err: errBoom}, "error: boom"},
		{Failure{Cause: CauseMemberLost}, "member_lost"},
		{Failure{Cause: CauseCancelled, Err: context.Canceled}, "cancelled: context canceled"},
	}
	for _, tt := range tests {
		if got := tt.f.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if f := (Failure{Err: fmt.Errorf("x: %w", errBoom)}); !errors.Is(f, errBoom) {
		t.Errorf("Failure does not unwrap to its error")
	}
}

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errBoom, false},
		{"direct", permanentErr{errBoom}, true},
		{"wrapped with %w", wrappedPermanent(), true},
		{"joined", errors.Join(errBoom, wrappedPermanent()), true},
		{"outer says retryable", retryableErr{permanentErr{errBoom}}, false},
		{"inside a failure", Failure{Err: wrappedPermanent()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Fatalf("IsPermanent = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecover(t *testing.T) {
	if err := Recover(func() {}); err != nil {
		t.Fatalf("no panic: %v", err)
	}
	err := Recover(func() { panic("boom") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || err.Error() != "panic: boom" {
		t.Fatalf("Recover = %#v", err)
	}
	if !strings.Contains(string(pe.Stack), "TestRecover") {
		t.Errorf("stack does not show the panicking function:\n%s", pe.Stack)
	}
	err = Recover(func() { panic(fmt.Errorf("wrapped: %w", errBoom)) })
	if !errors.Is(err, errBoom) {
		t.Errorf("panic(err) does not unwrap to err: %v", err)
	}
	err = Recover(func() { panic(nil) })
	if !errors.As(err, &pe) {
		t.Errorf("panic(nil) not recovered: %v", err)
	}
}

func TestFailureFromReason(t *testing.T) {
	now := at(time.Second)
	stacked := &PanicError{Value: "boom", Stack: []byte("stack")}
	var nilMap map[string]int
	runtimeErr := Recover(func() { nilMap["x"] = 1 }).(*PanicError).Value.(error)
	tests := []struct {
		name   string
		reason any
		cause  Cause
		stack  string
		text   string
	}{
		{"string panic", "boom", CausePanic, "", "panic: boom"},
		{"int panic", 42, CausePanic, "", "panic: 42"},
		{"error", errBoom, CauseError, "", "error: boom"},
		{"permanent error", wrappedPermanent(), CauseError, "", "error: task x: bad input"},
		{"panic error keeps stack", stacked, CausePanic, "stack", "panic: boom"},
		{"wrapped panic error", fmt.Errorf("handler: %w", stacked), CausePanic, "stack", "panic: handler: panic: boom"},
		{"runtime error", runtimeErr, CausePanic, "", "panic: assignment to entry in nil map"},
		{"failure", Failure{Cause: CauseMemberLost, At: t0}, CauseMemberLost, "", "member_lost"},
		{"failure pointer", &Failure{Cause: CauseHeartbeatTimeout}, CauseHeartbeatTimeout, "", "heartbeat_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FailureFromReason(tt.reason, now)
			if f.Cause != tt.cause || string(f.Stack) != tt.stack || f.Error() != tt.text {
				t.Fatalf("got cause=%v stack=%q text=%q", f.Cause, f.Stack, f.Error())
			}
			if f.At.IsZero() {
				t.Fatalf("At not filled")
			}
		})
	}
}
