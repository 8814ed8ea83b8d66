package tracing_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/errs/errstest"
	"github.com/granary-rt/granary/cluster/tracing"
)

// TestConfigValidate: a name that cannot be a resource attribute is named
// with its field and value, wraps errs.ErrInvalidConfig, and New refuses
// it; the zero Config works (tracing off).
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  tracing.Config
		want string // "": valid
	}{
		{"defaults", tracing.DefaultConfig(), ""},
		{"zero", tracing.Config{}, ""},
		{"member id", tracing.Config{ServiceName: "granary", Instance: "node-1"}, ""},
		{"control character", tracing.Config{Instance: "node\n1"}, `Instance "node\n1"`},
		{"invalid UTF-8", tracing.Config{ServiceName: "gr\xffnary"}, `ServiceName "gr\xffnary"`},
		{"too long", tracing.Config{ServiceName: strings.Repeat("g", 300)}, "ServiceName is 300 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errstest.WantInvalidConfig(t, tc.cfg.Validate(), tc.want)
			if tc.want == "" {
				return
			}
			if _, err := tracing.New(context.Background(), tc.cfg); !errors.Is(err, tracing.ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
}
