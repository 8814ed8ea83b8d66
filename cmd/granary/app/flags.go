package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/httpapi"
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

// printUsage is flag's PrintDefaults with flags written as users (and the
// README) write them: --name, not -name. Help asked for goes to stdout (so
// `granary help submit | less` shows it); help shown because of a usage
// error goes to stderr.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s\n\nFlags:\n", fs.Name(), fs.args)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch {
		case f.DefValue == "" || f.DefValue == "0" || f.DefValue == "0s" || f.DefValue == "false" || f.DefValue == "map[]":
		case typ == "string":
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parse parses flags and positional arguments in any order (flag stops at
// the first positional one; users write `granary wait ID --timeout 5s`).
func parse(fs *flagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printUsage(fs.e.stdout)
				return nil, &exitError{code: exitOK}
			}
			return nil, usageErr("%s (see %s -h)", doubleDash(err), fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagInMessage finds a flag as package flag's errors write it: -name.
var flagInMessage = regexp.MustCompile(`(defined: |flag |for |argument: )-([A-Za-z])`)

// doubleDash writes the flags in a flag package error as the help and the
// README write them: "flag provided but not defined: --bogus".
func doubleDash(err error) string {
	return flagInMessage.ReplaceAllString(err.Error(), "$1--$2")
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
	tokensFile          string
}

func (sf *serverFlags) register(fs *flagSet, drainHelp string) {
	fs.StringVar(&sf.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&sf.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&sf.cfg.DrainTimeout, "drain-timeout", sf.cfg.DrainTimeout, drainHelp)
	fs.DurationVar(&sf.cfg.Retention, "retention", sf.cfg.Retention, "how long finished tasks are kept")
	fs.IntVar(&sf.cfg.AbandonedAttempts.PerKind, "max-abandoned-per-kind", sf.cfg.AbandonedAttempts.PerKind, "abandoned attempts (handlers still running after their attempt ended: they ignore their context) of one kind past which its attempts wait on this member")
	fs.IntVar(&sf.cfg.AbandonedAttempts.PerMember, "max-abandoned", sf.cfg.AbandonedAttempts.PerMember, "abandoned attempts of all kinds past which no attempt starts on this member")
	fs.BoolVar(&sf.cfg.KeepIdleActors, "keep-idle-actors", sf.cfg.KeepIdleActors, "a task waiting for its retry or start time keeps its actor (about 9 KB per waiting task instead of 1 KB; by default it gives it up while it waits)")
	fs.BoolVar(&sf.cfg.Pprof, "pprof", false, "serve Go's profiles at /debug/pprof/ on the HTTP address (off by default: they expose the process's internals; with --tokens, to write tokens only)")
	fs.BoolVar(&sf.cfg.Metrics, "metrics", sf.cfg.Metrics, "serve Prometheus metrics at /metrics on the HTTP address (with --tokens, to read tokens); --metrics=false records none")
	fs.StringVar(&sf.cfg.TLSCert, "tls-cert", "", "PEM certificate of the HTTP API: serve it over TLS (with --tls-key)")
	fs.StringVar(&sf.cfg.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&sf.tokensFile, "tokens", "", "file of the API's bearer tokens, one 'read TOKEN' or 'write TOKEN' a line, # comments (default: $GRANARY_WRITE_TOKEN and $GRANARY_READ_TOKEN; none: no authentication)")
	fs.BoolVar(&sf.cfg.Insecure, "insecure", false, "listen beyond loopback without TLS and tokens (anyone who reaches the ports may submit, cancel and read tasks)")
}

// tokens loads the API's tokens: --tokens, else $GRANARY_WRITE_TOKEN and
// $GRANARY_READ_TOKEN, else none.
func (sf *serverFlags) tokens(e *env) error {
	var err error
	switch {
	case sf.tokensFile != "":
		sf.cfg.Tokens, err = httpapi.LoadTokens(sf.tokensFile)
	case e.getenv("GRANARY_WRITE_TOKEN") != "" || e.getenv("GRANARY_READ_TOKEN") != "":
		sf.cfg.Tokens, err = httpapi.NewTokens(splitList(e.getenv("GRANARY_READ_TOKEN")), splitList(e.getenv("GRANARY_WRITE_TOKEN")))
		if err != nil {
			err = fmt.Errorf("$GRANARY_WRITE_TOKEN, $GRANARY_READ_TOKEN: %w", err)
		}
	}
	if err != nil {
		return usageErr("--tokens: %v", err)
	}
	return nil
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
	if err := sf.tokens(e); err != nil {
		return nil, err
	}
	log, err := newLogger(e, sf.logLevel, sf.logFormat)
	if err != nil {
		return nil, err
	}
	if sf.tokensFile != "" {
		if st, err := os.Stat(sf.tokensFile); err == nil && st.Mode().Perm()&0o077 != 0 {
			// Like ssh with a private key: anyone who can read the file
			// holds the cluster's write token.
			log.Warn("the token file is readable by other users of this host; chmod 600 it", "file", sf.tokensFile, "mode", st.Mode().Perm().String())
		}
	}
	return log, nil
}
