package app

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/granary-rt/granary/cluster/buildinfo"
)

func runVersion(e *env, args []string) error {
	fs := newFlags(e, "version", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s version -h)", pos[0], e.name())
	}
	bi, ok := debug.ReadBuildInfo()
	if *asJSON {
		out := versionJSON{Go: runtime.Version()}
		if ok {
			out.Version, out.Module, out.ModuleVersion = buildinfo.Line(e.name(), bi), bi.Main.Path, bi.Main.Version
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					out.Revision = s.Value
				case "vcs.modified":
					out.Modified = s.Value == "true"
				}
			}
			for _, d := range bi.Deps {
				if d.Path == buildinfo.GranaryModule {
					out.Granary = d.Version
				}
			}
		}
		return printJSON(e.stdout, out)
	}
	if !ok {
		fmt.Fprintf(e.stdout, "%s (no build information) %s\n", e.name(), runtime.Version())
		return nil
	}
	fmt.Fprintln(e.stdout, buildinfo.Line(e.name(), bi))
	return nil
}

// versionJSON is what `version --json` prints.
type versionJSON struct {
	// Version is the line `version` prints.
	Version string `json:"version,omitempty"`
	// Module and ModuleVersion are the binary's main module.
	Module        string `json:"module,omitempty"`
	ModuleVersion string `json:"module_version,omitempty"`
	// Granary is the Granary module's version in an application's binary.
	Granary  string `json:"granary,omitempty"`
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}
