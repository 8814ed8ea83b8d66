// Package grainstatetest is the conformance suite of grain state stores
// (grainstate.ReminderStore): every implementation — Consul KV
// (consulstate), bbolt (boltstate) and memory (grains.LocalState) — passes
// the same tests, so a new store is a new Run line and the stores answer
// alike: fenced writes (a stale version or a lost claim is
// grainstate.ErrStateConflict and writes nothing), read-your-write,
// clearing, the reminder index (set, cancel, list by shard, due times),
// the bounds (grainstate.CheckWrite) and concurrent writers.
package grainstatetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/grainstate"
)

// Store is what a test needs of an implementation: the store, and how to
// make the member "m1" hold an identity's claim (Claim) and lose it
// (Lose; nil for a store without claims, whose tests of lost claims then
// check nothing and say so).
type Store struct {
	grainstate.ReminderStore
	Claim func(t *testing.T, kind, identity string)
	Lose  func(t *testing.T, kind, identity string)
}

// Run runs the suite; open returns a new, empty store.
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s Store)
}

// tests is the suite, by file: this one (state), reminders.go, bounds.go.
var tests = concat(stateTests, reminderTests, boundTests)

var stateTests = []test{
	{"LoadMissing", testLoadMissing},
	{"SaveLoad", testSaveLoad},
	{"ReadYourWrite", testReadYourWrite},
	{"StaleVersionConflicts", testStale},
	{"OneOfConcurrentWritersWins", testConcurrent},
	{"ConcurrentIncrementsAllLand", testIncrements},
	{"ConcurrentGrainsApart", testConcurrentGrains},
	{"Delete", testDelete},
	{"IdentitiesAreApart", testApart},
	{"LostClaimWritesNothing", testLostClaim},
}

func concat(lists ...[]test) []test {
	var out []test
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func load(t *testing.T, s Store, kind, id string) ([]byte, uint64) {
	t.Helper()
	data, v, err := s.LoadState(ctx(t), kind, id)
	if err != nil {
		t.Fatalf("LoadState(%s/%s): %v", kind, id, err)
	}
	return data, v
}

func save(t *testing.T, s Store, kind, id string, data []byte, version uint64) uint64 {
	t.Helper()
	v, err := s.SaveState(ctx(t), kind, id, "m1", data, version)
	if err != nil {
		t.Fatalf("SaveState(%s/%s, version %d): %v", kind, id, version, err)
	}
	return v
}

func testLoadMissing(t *testing.T, s Store) {
	if data, v := load(t, s, "cart", "nobody"); data != nil || v != 0 {
		t.Fatalf("missing state = %q at %d, want nil at 0", data, v)
	}
}

func testSaveLoad(t *testing.T, s Store) {
	s.Claim(t, "cart", "a")
	v1 := save(t, s, "cart", "a", []byte(`{"n":1}`), 0)
	if data, v := load(t, s, "cart", "a"); !bytes.Equal(data, []byte(`{"n":1}`)) || v != v1 || v1 == 0 {
		t.Fatalf("after a save at %d: %q at %d", v1, data, v)
	}
	v2 := save(t, s, "cart", "a", []byte(`{"n":2}`), v1)
	if v2 <= v1 {
		t.Fatalf("versions must grow: %d then %d", v1, v2)
	}
	if data, v := load(t, s, "cart", "a"); !bytes.Equal(data, []byte(`{"n":2}`)) || v != v2 {
		t.Fatalf("after a second save: %q at %d", data, v)
	}
}

// testReadYourWrite: each write is what the next read returns, at the
// version the write answered, with no wait in between.
func testReadYourWrite(t *testing.T, s Store) {
	s.Claim(t, "cart", "r")
	var v uint64
	for i := range 20 {
		want := []byte{byte('a' + i), byte(i)}
		next := save(t, s, "cart", "r", want, v)
		if data, got := load(t, s, "cart", "r"); !bytes.Equal(data, want) || got != next {
			t.Fatalf("write %d: read %q at %d right after writing %q at %d", i, data, got, want, next)
		}
		v = next
	}
	// An empty state is a state: stored, at a version of its own.
	next := save(t, s, "cart", "r", []byte{}, v)
	if data, got := load(t, s, "cart", "r"); len(data) != 0 || got != next || next == 0 {
		t.Fatalf("an empty state written at %d reads back as %q at %d", next, data, got)
	}
}

func testStale(t *testing.T, s Store) {
	s.Claim(t, "cart", "b")
	v1 := save(t, s, "cart", "b", []byte("one"), 0)
	save(t, s, "cart", "b", []byte("two"), v1)
	if _, err := s.SaveState(ctx(t), "cart", "b", "m1", []byte("stale"), v1); !errors.Is(err, grainstate.ErrStateConflict) {
		t.Fatalf("a save at a replaced version: %v, want grainstate.ErrStateConflict", err)
	}
	if _, err := s.SaveState(ctx(t), "cart", "b", "m1", []byte("new?"), 0); !errors.Is(err, grainstate.ErrStateConflict) {
		t.Fatalf("a first save over a stored state: %v, want grainstate.ErrStateConflict", err)
	}
	if data, _ := load(t, s, "cart", "b"); string(data) != "two" {
		t.Fatalf("refused saves changed the state to %q", data)
	}
}

func testConcurrent(t *testing.T, s Store) {
	s.Claim(t, "cart", "c")
	v := save(t, s, "cart", "c", []byte("0"), 0)
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.SaveState(ctx(t), "cart", "c", "m1", []byte{byte('a' + i)}, v); err == nil {
				won.Add(1)
			} else if !errors.Is(err, grainstate.ErrStateConflict) {
				t.Errorf("a losing writer: %v, want grainstate.ErrStateConflict", err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d of 8 writers of one version won, want exactly 1", won.Load())
	}
}

// testIncrements: writers that read, add one and write back, retrying on
// grainstate.ErrStateConflict, lose no increment: each write replaced
// exactly the version it read.
func testIncrements(t *testing.T, s Store) {
	s.Claim(t, "cart", "n")
	const writers, each = 4, 8
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				data, v, err := s.LoadState(ctx(t), "cart", "n")
				if err != nil {
					t.Errorf("LoadState: %v", err)
					return
				}
				_, err = s.SaveState(ctx(t), "cart", "n", "m1", append(bytes.Clone(data), 'x'), v)
				switch {
				case err == nil:
					done++
				case !errors.Is(err, grainstate.ErrStateConflict):
					t.Errorf("an increment: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if data, _ := load(t, s, "cart", "n"); len(data) != writers*each {
		t.Fatalf("%d writers of %d increments each left %d", writers, each, len(data))
	}
}

// testConcurrentGrains: writes of many grains at once all land, each at
// its own version, none refused for another's sake.
func testConcurrentGrains(t *testing.T, s Store) {
	const n = 24
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "p" + string(rune('a'+i))
		s.Claim(t, "cart", ids[i])
	}
	versions := make([]uint64, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if versions[i], err = s.SaveState(ctx(t), "cart", id, "m1", []byte("state of "+id), 0); err != nil {
				t.Errorf("SaveState(%s): %v", id, err)
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if data, v := load(t, s, "cart", id); string(data) != "state of "+id || v != versions[i] {
			t.Errorf("%s holds %q at %d; its write answered %d", id, data, v, versions[i])
		}
	}
}

func testDelete(t *testing.T, s Store) {
	s.Claim(t, "cart", "d")
	v := save(t, s, "cart", "d", []byte("x"), 0)
	if err := s.DeleteState(ctx(t), "cart", "d"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteState(ctx(t), "cart", "d"); err != nil {
		t.Fatalf("deleting a deleted state: %v", err)
	}
	if data, v := load(t, s, "cart", "d"); data != nil || v != 0 {
		t.Fatalf("after delete: %q at %d", data, v)
	}
	if _, err := s.SaveState(ctx(t), "cart", "d", "m1", []byte("y"), v); !errors.Is(err, grainstate.ErrStateConflict) {
		t.Fatalf("a save at the version before a delete: %v, want grainstate.ErrStateConflict", err)
	}
	save(t, s, "cart", "d", []byte("fresh"), 0)
}

func testApart(t *testing.T, s Store) {
	s.Claim(t, "cart", "e")
	s.Claim(t, "cart", "f")
	s.Claim(t, "order", "e")
	save(t, s, "cart", "e", []byte("cart e"), 0)
	save(t, s, "cart", "f", []byte("cart f"), 0)
	save(t, s, "order", "e", []byte("order e"), 0)
	for _, c := range []struct{ kind, id, want string }{{"cart", "e", "cart e"}, {"cart", "f", "cart f"}, {"order", "e", "order e"}} {
		if data, _ := load(t, s, c.kind, c.id); string(data) != c.want {
			t.Errorf("%s/%s = %q, want %q", c.kind, c.id, data, c.want)
		}
	}
}

func testLostClaim(t *testing.T, s Store) {
	if s.Lose == nil {
		t.Skip("this store has no claims: one member holds every identity")
	}
	s.Claim(t, "cart", "g")
	v := save(t, s, "cart", "g", []byte("mine"), 0)
	s.Lose(t, "cart", "g")
	if _, err := s.SaveState(ctx(t), "cart", "g", "m1", []byte("after losing the claim"), v); !errors.Is(err, grainstate.ErrStateConflict) {
		t.Fatalf("a save after the claim was lost: %v, want grainstate.ErrStateConflict", err)
	}
	if data, _ := load(t, s, "cart", "g"); string(data) != "mine" {
		t.Fatalf("the lost writer changed the state to %q", data)
	}
}
