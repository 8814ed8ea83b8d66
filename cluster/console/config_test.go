package console_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/console"
	"github.com/granary-rt/granary/cluster/errs"
)

// TestConfigValidate: a Path that cannot be mounted is refused naming the
// field and the value, with the shared invalid-config sentinel (as every
// Config's Validate, cluster/errs); the zero Path takes the default.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"", true}, {"/ui/", true}, {"/", true},
		{"ui/", false}, {"/ui", false}, {"/u i/", false}, {"/{x}/", false},
	} {
		err := console.Config{Path: tc.path}.Validate()
		if tc.ok != (err == nil) {
			t.Errorf("Path %q: Validate = %v, want ok %v", tc.path, err, tc.ok)
			continue
		}
		if err != nil && (!errors.Is(err, errs.ErrInvalidConfig) || !errors.Is(err, console.ErrInvalidConfig) || !strings.Contains(err.Error(), "Path")) {
			t.Errorf("Path %q: %v does not wrap errs.ErrInvalidConfig and console.ErrInvalidConfig, naming Path", tc.path, err)
		}
	}
}
