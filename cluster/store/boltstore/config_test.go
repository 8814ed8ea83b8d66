package boltstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
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
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, errs.ErrInvalidConfig) || !errors.Is(err, boltstore.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig naming %q", err, tc.want)
			}
		})
	}
}

// TestOpenZeroConfig: Open(Config{}) is refused with an error naming the
// missing Path, before it touches the disk.
func TestOpenZeroConfig(t *testing.T) {
	if _, err := boltstore.Open(boltstore.Config{}); !errors.Is(err, errs.ErrInvalidConfig) || !strings.Contains(err.Error(), "Path is empty") {
		t.Fatalf("Open(Config{}): %v, want ErrInvalidConfig naming Path", err)
	}
}
