package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/node"
)

// flagSet is a command's flags. Errors are usage errors (exit 2, one
// line); -h prints the full usage.
type flagSet struct {
	*flag.FlagSet
	e    *env
	args string
}

func newFlags(e *env, name, args string) *flagSet {
	fs := flag.NewFlagSet(e.name()+" "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // a parse error is one line, not the whole usage
	return &flagSet{FlagSet: fs, e: e, args: args}
}

func (fs *flagSet) printUsage() {
	fmt.Fprintf(fs.e.stderr, "Usage: %s %s\n\nFlags:\n", fs.Name(), fs.args)
	fs.SetOutput(fs.e.stderr)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parse parses flags and positional arguments in any order (flag stops at
// the first positional one; users write `granary wait ID --timeout 5s`).
func parse(fs *flagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printUsage()
				return nil, &exitError{code: exitOK}
			}
			return nil, usageErr("%v (see %s -h)", err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// setFlags lists the flags given on the command line.
func setFlags(fs *flagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// labels collects repeated --label k=v flags.
type labels map[string]string

func (l labels) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q is not key=value", s)
	}
	l[k] = v
	return nil
}

// positiveDuration rejects zero and negative durations where they make no sense.
func positiveDuration(name string, d time.Duration) error {
	if d <= 0 {
		return usageErr("--%s must be positive, got %s", name, d)
	}
	return nil
}

// serverFlags are the flags shared by the runtime commands (dev, node),
// set straight into the node's configuration.
type serverFlags struct {
	cfg                 *node.Config
	logLevel, logFormat string
}

func (sf *serverFlags) register(fs *flagSet, drainHelp string) {
	fs.StringVar(&sf.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&sf.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&sf.cfg.DrainTimeout, "drain-timeout", sf.cfg.DrainTimeout, drainHelp)
	fs.DurationVar(&sf.cfg.Retention, "retention", sf.cfg.Retention, "how long finished tasks are kept")
	fs.BoolVar(&sf.cfg.Pprof, "pprof", false, "serve Go's profiles at /debug/pprof/ on the HTTP address (off by default: they expose the process's internals)")
}

// logger checks the shared flags and returns the logger they ask for.
func (sf *serverFlags) logger(e *env) (*slog.Logger, error) {
	for name, d := range map[string]time.Duration{"drain-timeout": sf.cfg.DrainTimeout, "retention": sf.cfg.Retention, "idle-timeout": sf.cfg.IdleTimeout} {
		if err := positiveDuration(name, d); err != nil {
			return nil, err
		}
	}
	if sf.cfg.JoinTimeout < 0 {
		return nil, usageErr("--join-timeout must not be negative, got %s", sf.cfg.JoinTimeout)
	}
	return newLogger(e, sf.logLevel, sf.logFormat)
}
