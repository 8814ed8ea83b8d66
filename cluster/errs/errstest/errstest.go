// Package errstest checks errors against Granary's error vocabulary in
// tests: a Config's table test states only the text it wants.
//
//	errstest.WantInvalidConfig(t, cfg.Validate(), "MaxBatch is 0", boltstore.ErrInvalidConfig)
package errstest

import (
	"errors"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/errs"
)

// WantInvalidConfig fails t unless err is as want says: nil when want is
// empty; otherwise an error wrapping errs.ErrInvalidConfig and each of
// also (the package's own sentinel) whose text contains want (the field
// and the value refused).
func WantInvalidConfig(t testing.TB, err error, want string, also ...error) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	if !errors.Is(err, errs.ErrInvalidConfig) || !strings.Contains(errText(err), want) {
		t.Fatalf("got %v, want an ErrInvalidConfig naming %q", err, want)
	}
	for _, s := range also {
		if !errors.Is(err, s) {
			t.Fatalf("got %v, want it to wrap %v too", err, s)
		}
	}
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
