package kvtxn

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/errs/errstest"
)

// TestConfigValidate: a negative Workers or Timeout is named with its
// value and wraps the shared errs.ErrInvalidConfig; zero is the default.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "": valid
	}{
		{"defaults", DefaultConfig(), ""},
		{"zero", Config{}, ""},
		{"negative workers", Config{Workers: -1}, "Workers is -1"},
		{"negative timeout", Config{Timeout: -time.Second}, "Timeout is -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errstest.WantInvalidConfig(t, tc.cfg.Validate(), tc.want)
		})
	}
}

// TestNewZeroConfig: New with the zero Config takes the defaults.
func TestNewZeroConfig(t *testing.T) {
	b := New(nil, Config{})
	defer b.Close()
	if b.timeout != DefaultConfig().Timeout {
		t.Errorf("timeout %s, want the default %s", b.timeout, DefaultConfig().Timeout)
	}
}
