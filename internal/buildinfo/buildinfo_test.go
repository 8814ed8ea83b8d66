package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestCurrent(t *testing.T) {
	got := Current()
	// A test binary's main package is this package's test.
	if !strings.HasPrefix(got, "buildinfo.test ") || !strings.HasSuffix(got, runtime.Version()) {
		t.Fatalf("Current() = %q; want the test binary's name first and the Go version last", got)
	}
}
