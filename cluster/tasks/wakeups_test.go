package tasks

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// ids lists the due wake-ups' ids.
func ids(ws []wake) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.id
	}
	return out
}

// TestWakeupsOrderCancelRearm drives the timer heap with a clock of its
// own: wake-ups come due earliest first, a cancelled one never does, a
// re-armed one moves (and takes the attempt it was armed after).
func TestWakeupsOrderCancelRearm(t *testing.T) {
	t0 := t0
	var w wakeups
	w.set("a", t0.Add(3*time.Second), 1)
	w.set("b", t0.Add(time.Second), 1)
	w.set("c", t0.Add(2*time.Second), 1)
	w.set("d", t0.Add(time.Second), 2) // the same instant as b, armed later
	if next, ok := w.next(); !ok || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("next = %v %v, want %v", next, ok, t0.Add(time.Second))
	}
	if got := w.due(t0); len(got) != 0 {
		t.Fatalf("due before anything = %v, want none", ids(got))
	}
	if got := w.due(t0.Add(time.Second)); !slices.Equal(ids(got), []string{"b", "d"}) || got[1].after != 2 {
		t.Fatalf("due at 1s = %+v, want b then d (after 2)", got)
	}
	w.set("c", t0.Add(5*time.Second), 3) // re-armed: moves later
	if !w.cancel("a") || w.cancel("a") || w.cancel("nope") {
		t.Fatal("cancel: want true once for an armed wake-up, false after and for an unknown one")
	}
	if got := w.due(t0.Add(4 * time.Second)); len(got) != 0 {
		t.Fatalf("due at 4s = %v, want none (a cancelled, c moved to 5s)", ids(got))
	}
	if at, ok := w.armed("c"); !ok || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("c armed at %v %v, want 5s", at, ok)
	}
	got := w.due(t0.Add(time.Hour))
	if !slices.Equal(ids(got), []string{"c"}) || got[0].after != 3 {
		t.Fatalf("due at 1h = %+v, want c after 3", got)
	}
	if _, ok := w.next(); ok || w.len() != 0 || len(w.byID) != 0 {
		t.Fatalf("after all came due: %d armed, %d indexed; want none", w.len(), len(w.byID))
	}
}

// TestWakeupsManyAtOneInstant: thousands due at one instant come due at
// once, in the order they were armed; re-arming one at the same instant
// puts it last; an earlier one re-armed into the batch joins it.
func TestWakeupsManyAtOneInstant(t *testing.T) {
	t0 := t0
	at := t0.Add(time.Hour)
	var w wakeups
	var want []string
	for i := 0; i < 5000; i++ {
		id := fmt.Sprintf("t-%04d", i)
		w.set(id, at, 1)
		want = append(want, id)
	}
	w.set("t-0000", at, 1) // re-armed: now the last armed
	want = append(want[1:], "t-0000")
	w.set("early", t0.Add(time.Minute), 1)
	w.set("early", at, 1)
	want = append(want, "early")
	if got := w.due(at.Add(-time.Nanosecond)); len(got) != 0 {
		t.Fatalf("%d due a nanosecond early, want none", len(got))
	}
	if got := ids(w.due(at)); !slices.Equal(got, want) {
		t.Fatalf("due at the instant: %d wake-ups, first %v; want %d in the order armed", len(got), got[:3], len(want))
	}
	if w.len() != 0 {
		t.Fatalf("%d left armed", w.len())
	}
}

// TestWakeupsCancelInTheMiddle: cancelling entries anywhere in the heap
// keeps the others' order.
func TestWakeupsCancelInTheMiddle(t *testing.T) {
	t0 := t0
	var w wakeups
	var want []string
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("t-%03d", i)
		w.set(id, t0.Add(time.Duration(200-i)*time.Second), i)
		if i%3 == 0 {
			continue
		}
		want = append([]string{id}, want...) // later armed, earlier due
	}
	for i := 0; i < 200; i += 3 {
		w.cancel(fmt.Sprintf("t-%03d", i))
	}
	if got := ids(w.due(t0.Add(time.Hour))); !slices.Equal(got, want) {
		t.Fatalf("due after cancels = %v…, want %v…", got[:5], want[:5])
	}
}
