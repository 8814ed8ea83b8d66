package grainstate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grainstate"
)

// TestReminderShardIsStoredLayout: an index entry's key names its shard,
// so the shard of a grain never changes between releases (these values
// are those of every release since the index was sharded).
func TestReminderShardIsStoredLayout(t *testing.T) {
	for _, c := range []struct {
		kind, identity string
		shard          int
	}{{"counter", "alice", 3}, {"reminding", "r1", 21}, {"cart", "a", 20}, {"alarm", "m07", 20}} {
		if got := grainstate.ReminderShard(c.kind, c.identity); got != c.shard {
			t.Errorf("ReminderShard(%s, %s) = %d, stored entries say %d", c.kind, c.identity, got, c.shard)
		}
	}
}

// TestCheckWrite: each refusal names what is wrong and wraps the shared
// sentinel; what a store can hold passes.
func TestCheckWrite(t *testing.T) {
	ok := []grainstate.IndexChange{{Name: "wake"}}
	for _, c := range []struct {
		name, kind, identity string
		data                 []byte
		changes              []grainstate.IndexChange
		want                 error
		says                 string
	}{
		{"fits", "cart", "a", make([]byte, grainstate.MaxStateBytes), ok, nil, ""},
		{"empty kind", "", "a", nil, nil, errs.ErrInvalidArgument, "empty grain kind"},
		{"empty identity", "cart", "", nil, nil, errs.ErrInvalidArgument, "empty grain identity"},
		{"NUL", "cart", "a\x00", nil, nil, errs.ErrInvalidArgument, "NUL"},
		{"long", "cart", strings.Repeat("x", grainstate.MaxNameBytes+1), nil, nil, errs.ErrInvalidArgument, "the limit is 512"},
		{"too large", "cart", "a", make([]byte, grainstate.MaxStateBytes+1), nil, grainstate.ErrStateTooLarge, "368641 bytes"},
		{"changes", "cart", "a", nil, make([]grainstate.IndexChange, grainstate.MaxIndexChanges+1), errs.ErrInvalidArgument, "63 reminder index changes"},
		{"reminder name", "cart", "a", nil, []grainstate.IndexChange{{Name: ""}}, errs.ErrInvalidArgument, "empty grain reminder name"},
	} {
		err := grainstate.CheckWrite(c.kind, c.identity, c.data, c.changes)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%s: %v, want %v saying %q", c.name, err, c.want, c.says)
		}
	}
	if err := grainstate.CheckShard(grainstate.ReminderShards - 1); err != nil {
		t.Errorf("the last shard: %v", err)
	}
}
