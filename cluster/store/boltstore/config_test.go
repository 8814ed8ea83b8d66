package boltstore_test

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/errs/errstest"
	"github.com/granary-rt/granary/cluster/store/boltstore"
)

// TestConfigValidate: each refused value is named with its field and
// wraps the shared errs.ErrInvalidConfig (it was a plain error).
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*boltstore.Config)
		want string // "" : valid
	}{
		{"defaults", func(*boltstore.Config) {}, ""},
		{"no path", func(c *boltstore.Config) { c.Path = "" }, "Path is empty"},
		{"zero batch", func(c *boltstore.Config) { c.MaxBatch = 0 }, "MaxBatch is 0"},
		{"negative open timeout", func(c *boltstore.Config) { c.OpenTimeout = -time.Second }, "OpenTimeout is -1s"},
		{"zero open timeout waits forever", func(c *boltstore.Config) { c.OpenTimeout = 0 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := boltstore.DefaultConfig("/tmp/x/tasks.db")
			tc.edit(&cfg)
			errstest.WantInvalidConfig(t, cfg.Validate(), tc.want, boltstore.ErrInvalidConfig)
		})
	}
}

// TestOpenZeroConfig: Open(Config{}) is refused with an error naming the
// missing Path, before it touches the disk.
func TestOpenZeroConfig(t *testing.T) {
	_, err := boltstore.Open(boltstore.Config{})
	errstest.WantInvalidConfig(t, err, "Path is empty", boltstore.ErrInvalidConfig)
}
