// Package buildinfo says what a binary was built from, for `granary
// version` and for the version each member advertises to the cluster (so
// an operator sees a rolling upgrade's mixed versions in `granary
// members` and the console).
package buildinfo

import (
	"path"
	"runtime"
	"runtime/debug"
	"strings"
)

// GranaryModule is Granary's module path: an application built on it
// reports Granary's version besides its own.
const GranaryModule = "github.com/granary-rt/granary"

// Line describes the build bi of program prog: its main module's version
// ("devel" from a checkout, with the VCS revision when the build recorded
// one: go build records none with -buildvcs=false), Granary's version when
// the main module is an application, and the Go version.
func Line(prog string, bi *debug.BuildInfo) string {
	parts := []string{prog, moduleVersion(bi.Main.Version)}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified == "true" {
			rev += "+modified"
		}
		parts = append(parts, "revision "+rev)
	} else if bi.Main.Version == "(devel)" || bi.Main.Version == "" {
		parts = append(parts, "(no VCS revision recorded)")
	}
	if bi.Main.Path != GranaryModule {
		for _, d := range bi.Deps {
			if d.Path == GranaryModule {
				v := d.Version
				if d.Replace != nil {
					v = moduleVersion(d.Replace.Version) + " (replaced by " + d.Replace.Path + ")"
				}
				parts = append(parts, "granary "+v)
			}
		}
	}
	return strings.Join(append(parts, runtime.Version()), " ")
}

// Current describes this binary as Line does, named after its main
// package ("granary", or an application's command); without build
// information (a binary built without module support), "unknown" and
// the Go version.
func Current() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown " + runtime.Version()
	}
	prog := path.Base(bi.Path)
	if prog == "" || prog == "." {
		prog = "unknown"
	}
	return Line(prog, bi)
}

// moduleVersion is a module version for people: "devel" for a build from
// a checkout, which the toolchain calls "(devel)".
func moduleVersion(v string) string {
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}
