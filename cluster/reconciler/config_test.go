package reconciler_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/errs/errstest"
	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/store"
)

// emptyIndex is a task store with no task; it counts the owner listings.
type emptyIndex struct{ watched atomic.Int32 }

func (*emptyIndex) Owners(context.Context) ([]string, error)                   { return nil, nil }
func (*emptyIndex) List(context.Context, store.Filter) ([]store.Record, error) { return nil, nil }
func (x *emptyIndex) WatchOwned(ctx context.Context, _ string, index uint64) ([]string, uint64, error) {
	x.watched.Add(1)
	return nil, index + 1, nil
}

type noActivator struct{}

func (noActivator) Activate(string, bool) {}
func (noActivator) Adopt(store.Record)    {}

// TestNewChecksItsConfig: the zero Config is refused with an error naming
// what is missing (it reached time.NewTicker(0) and panicked); a negative
// interval is named with its value; zero intervals take the defaults.
func TestNewChecksItsConfig(t *testing.T) {
	_, err := reconciler.New(reconciler.Config{})
	if !errors.Is(err, reconciler.ErrInvalidConfig) || !strings.Contains(err.Error(), "Member is empty") || !strings.Contains(err.Error(), "Index is nil") {
		t.Errorf("New(Config{}) = %v; want ErrInvalidConfig naming Member and Index", err)
	}
	idx := &emptyIndex{}
	cfg := reconciler.Config{Member: "m1", Index: idx, Tasks: noActivator{}, Sweep: -time.Second}
	if _, err := reconciler.New(cfg); !errors.Is(err, reconciler.ErrInvalidConfig) || !strings.Contains(err.Error(), "Sweep is -1s") {
		t.Errorf("a negative sweep: %v; want ErrInvalidConfig naming Sweep and -1s", err)
	}
	cfg.Sweep = 0
	r, err := reconciler.New(cfg)
	if err != nil {
		t.Fatalf("zero intervals: %v; want the defaults", err)
	}
	r.Start()
	defer r.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for idx.watched.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reconciler never listed its owned tasks")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConfigValidate: each refused value is named with its field and
// value and wraps the shared errs.ErrInvalidConfig (the package's own
// sentinel did not).
func TestConfigValidate(t *testing.T) {
	base := func() reconciler.Config {
		c := reconciler.DefaultConfig()
		c.Member, c.Index, c.Tasks = "m1", &emptyIndex{}, noActivator{}
		return c
	}
	for _, tc := range []struct {
		name string
		edit func(*reconciler.Config)
		want string // "": valid
	}{
		{"defaults", func(*reconciler.Config) {}, ""},
		{"zero intervals", func(c *reconciler.Config) { c.Sweep, c.OwnedEvery = 0, 0 }, ""},
		{"no member", func(c *reconciler.Config) { c.Member = "" }, "Member is empty"},
		{"no index", func(c *reconciler.Config) { c.Index = nil }, "Index is nil"},
		{"no activator", func(c *reconciler.Config) { c.Tasks = nil }, "Tasks is nil"},
		{"negative owned listing", func(c *reconciler.Config) { c.OwnedEvery = -time.Second }, "OwnedEvery is -1s"},
		{"negative claim wait", func(c *reconciler.Config) { c.ClaimWait = -time.Second }, "ClaimWait is -1s"},
		{"negative adoptions in flight", func(c *reconciler.Config) { c.AdoptInFlight = -1 }, "AdoptInFlight is -1"},
		{"bad retry", func(c *reconciler.Config) { c.Retry.Multiplier = 0.5 }, "Retry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.edit(&cfg)
			errstest.WantInvalidConfig(t, cfg.Validate(), tc.want, reconciler.ErrInvalidConfig)
		})
	}
}
