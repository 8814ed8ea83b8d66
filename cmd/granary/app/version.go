package app

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// granaryModule is the module whose version `version` reports besides the
// binary's own, for an application built on Granary.
const granaryModule = "github.com/granary-rt/granary"

func runVersion(e *env, args []string) error {
	fs := newFlags(e, "version", "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s version -h)", pos[0], e.name())
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintf(e.stdout, "%s (no build information) %s\n", e.name(), runtime.Version())
		return nil
	}
	fmt.Fprintln(e.stdout, versionLine(e.name(), bi))
	return nil
}

// versionLine says what a binary is built from: its main module's version
// ("devel" from a checkout, with the VCS revision when the build recorded
// one: go build records none with -buildvcs=false), Granary's version when
// the main module is an application, and the Go version.
func versionLine(prog string, bi *debug.BuildInfo) string {
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
	if bi.Main.Path != granaryModule {
		for _, d := range bi.Deps {
			if d.Path == granaryModule {
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

// moduleVersion is a module version for people: "devel" for a build from
// a checkout, which the toolchain calls "(devel)".
func moduleVersion(v string) string {
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return v
}
