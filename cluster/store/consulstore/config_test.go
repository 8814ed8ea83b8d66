package consulstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/errs/errstest"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/hashicorp/consul/api"
)

// TestConfigValidate: each refused value is named with its field and
// wraps the shared errs.ErrInvalidConfig; zero fields are the defaults.
// It needs no Consul: New refuses before it talks to one.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*consulstore.Config)
		want string // "": valid
	}{
		{"defaults", func(*consulstore.Config) {}, ""},
		{"zero durations and counts are the defaults", func(c *consulstore.Config) {
			*c = consulstore.Config{Cluster: c.Cluster}
		}, ""},
		{"no cluster", func(c *consulstore.Config) { c.Cluster = "" }, `Cluster ""`},
		{"cluster with a slash", func(c *consulstore.Config) { c.Cluster = "a/b" }, `Cluster "a/b"`},
		{"negative watch wait", func(c *consulstore.Config) { c.WatchWait = -time.Second }, "WatchWait is -1s"},
		{"negative local wait", func(c *consulstore.Config) { c.LocalWait = -time.Second }, "LocalWait is -1s"},
		{"negative call timeout", func(c *consulstore.Config) { c.CallTimeout = -2 * time.Second }, "CallTimeout is -2s"},
		{"negative max watches", func(c *consulstore.Config) { c.MaxWatches = -1 }, "MaxWatches is -1"},
		{"negative walk records", func(c *consulstore.Config) { c.WalkRecords = -5 }, "WalkRecords is -5"},
		{"negative reconcile period: never", func(c *consulstore.Config) { c.ReconcileEvery = -1 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := consulstore.DefaultConfig("gran")
			tc.edit(&cfg)
			errstest.WantInvalidConfig(t, cfg.Validate(), tc.want, consulstore.ErrInvalidConfig)
			if tc.want == "" {
				return
			}
			// New refuses the same Config before it talks to Consul.
			client, cerr := api.NewClient(&api.Config{Address: "127.0.0.1:1"})
			if cerr != nil {
				t.Fatal(cerr)
			}
			if _, err := consulstore.New(client, cfg); !errors.Is(err, consulstore.ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := consulstore.New(nil, consulstore.DefaultConfig("gran")); !errors.Is(err, errs.ErrInvalidConfig) {
		t.Errorf("New(nil client): %v, want ErrInvalidConfig", err)
	}
}
