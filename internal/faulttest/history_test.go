package faulttest

import (
	"testing"
	"time"
)

func TestStaleAnswers(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	answer := func(id, act string, sent, answered int) Answer {
		return Answer{Identity: id, Via: "n1", Sent: at(sent), Answered: at(answered), Member: "m-" + act, Activation: act}
	}
	failed := func(id string, sent, answered int) Answer {
		return Answer{Identity: id, Via: "n1", Sent: at(sent), Answered: at(answered), Err: "unavailable"}
	}
	tests := []struct {
		name    string
		answers []Answer
		want    int // stale answers
	}{
		{"one activation", []Answer{answer("x", "a", 0, 1), answer("x", "a", 2, 3)}, 0},
		{"clean failover", []Answer{answer("x", "a", 0, 1), failed("x", 2, 30), answer("x", "b", 4, 5), answer("x", "b", 6, 7)}, 0},
		{"old activation answers a call sent after the new one answered",
			[]Answer{answer("x", "a", 0, 1), answer("x", "b", 4, 5), answer("x", "a", 6, 7)}, 1},
		{"queued while paused, answered on waking",
			[]Answer{answer("x", "a", 0, 1), answer("x", "b", 4, 5), answer("x", "a", 6, 90), answer("x", "a", 7, 91)}, 2},
		// A reply on the wire when the old holder paused: sent before the
		// new activation answered, so not judged (the documented bound).
		{"reply already under way", []Answer{answer("x", "a", 0, 1), answer("x", "a", 3, 9), answer("x", "b", 4, 5)}, 0},
		{"back to the first after a third", []Answer{answer("x", "a", 0, 1), answer("x", "b", 2, 3), answer("x", "c", 4, 5), answer("x", "a", 6, 7)}, 1},
		{"identities are independent", []Answer{answer("x", "a", 0, 1), answer("y", "b", 2, 3), answer("x", "a", 4, 5)}, 0},
		{"failures never count", []Answer{answer("x", "a", 0, 1), answer("x", "b", 2, 3), failed("x", 4, 5)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h History
			for _, a := range tt.answers {
				h.Add(a)
			}
			got := h.StaleAnswers()
			if len(got) != tt.want {
				t.Fatalf("%d stale answers %v, want %d", len(got), got, tt.want)
			}
		})
	}
}
