package app

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/granary-rt/granary/internal/buildinfo"
)

// granaryModule is the module whose version `version` reports besides the
// binary's own, for an application built on Granary.
const granaryModule = buildinfo.GranaryModule

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

// versionLine says what a binary is built from (buildinfo.Line).
func versionLine(prog string, bi *debug.BuildInfo) string { return buildinfo.Line(prog, bi) }
