package supervisor

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// t0 is the fake clock's origin; tests express instants as offsets from it.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// permanentErr implements PermanentError the way actors.Permanent does.
type permanentErr struct{ err error }

func (e permanentErr) Error() string   { return e.err.Error() }
func (e permanentErr) Unwrap() error   { return e.err }
func (e permanentErr) Permanent() bool { return true }

// retryableErr is a PermanentError that says "not permanent", to check that
// an outer wrapper overrides an inner permanent one.
type retryableErr struct{ err error }

func (e retryableErr) Error() string   { return e.err.Error() }
func (e retryableErr) Unwrap() error   { return e.err }
func (e retryableErr) Permanent() bool { return false }

var errBoom = errors.New("boom")

func wrappedPermanent() error {
	return fmt.Errorf("task x: %w", permanentErr{errors.New("bad input")})
}

func mustTree(t *testing.T, spec Spec, children ...Child) *Tree {
	t.Helper()
	tree, err := NewTree(spec, children...)
	if err != nil {
		t.Fatalf("NewTree: %v", err)
	}
	return tree
}

// eventually polls cond until it holds or the deadline passes; tests never
// sleep for a fixed time to wait for a condition.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // poll interval, not a wait for the condition
	}
}

func noBackoffSpec(s Strategy, b Budget) Spec { return Spec{Strategy: s, Budget: b} }
