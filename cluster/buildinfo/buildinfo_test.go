package buildinfo

import (
	"runtime"
	"runtime/debug"
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

func TestLine(t *testing.T) {
	cases := []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Path: GranaryModule, Version: "v0.4.0"}}, "granary v0.4.0 go"},
		{debug.BuildInfo{Main: debug.Module{Path: GranaryModule, Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}},
			"granary devel revision 0123456789ab+modified go"},
		{debug.BuildInfo{Main: debug.Module{Path: GranaryModule, Version: "(devel)"}}, "granary devel (no VCS revision recorded) go"},
		{debug.BuildInfo{Main: debug.Module{Path: "example.com/shop", Version: "v1.2.0"}, Deps: []*debug.Module{{Path: GranaryModule, Version: "v0.4.0"}}},
			"granary v1.2.0 granary v0.4.0 go"},
	}
	for _, c := range cases {
		if got := Line("granary", &c.bi); !strings.HasPrefix(got, c.want) {
			t.Errorf("Line(%+v) = %q, want %q…", c.bi.Main, got, c.want)
		}
	}
}
