package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// historyFile holds the measurements made by hand, with their commands and
// analyses; `make bench` rewrites docs/benchmarks.md and never this file.
const historyFile = "docs/benchmarks-history.md"

// errUnknownSection is returned for a name in -only that is no section.
var errUnknownSection = errors.New("unknown section")

// section is one part of the report.
type section struct {
	name string
	// expected is about how long the section takes on a quiet machine:
	// the first full run of its sections (2026-12-01, single to reminders)
	// took 18m18s, and the sections added since were timed alone in their
	// own runs (docs/benchmarks-history.md: quorum 9 min at load 12 to 19,
	// jobrestart about 1 min, checkpoints about 2). It sizes the run's time
	// bound, and each section prints what it really took for the next
	// estimate.
	expected time.Duration
	run      func() (string, error)
}

// selectSections keeps the sections that only names (comma-separated),
// or every section when only is empty; a name that is no section is an
// error, so a typo does not silently run nothing.
func selectSections(all []section, only string) ([]section, error) {
	if only == "" {
		return all, nil
	}
	names := strings.Split(only, ",")
	for _, n := range names {
		if !slices.ContainsFunc(all, func(s section) bool { return s.name == n }) {
			return nil, fmt.Errorf("-only %q: %w %q", only, errUnknownSection, n)
		}
	}
	var out []section
	for _, s := range all {
		if slices.Contains(names, s.name) {
			out = append(out, s)
		}
	}
	return out, nil
}

// expectedDuration is the sum of the sections' expected durations.
func expectedDuration(sections []section) time.Duration {
	var d time.Duration
	for _, s := range sections {
		d += s.expected
	}
	return d
}

// runBudget bounds a run that is expected to take expected: twice that,
// because on this shared machine a loaded run (load average 10 to 20) was
// seen to take up to about twice a quiet one's time, plus 5 minutes for
// the processes' start-ups of a short run. A fixed 20 minutes, as before,
// was less than a full run of today's sections takes.
func runBudget(expected time.Duration) time.Duration { return 2*expected + 5*time.Minute }

// commandLine is the command that repeats this run: every flag of the
// command with the value it had (go test's own flags left out).
func commandLine() string {
	parts := []string{"go run ./internal/benchreport"}
	flag.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "test.") || f.Value.String() == "" {
			return
		}
		parts = append(parts, fmt.Sprintf("-%s %s", f.Name, f.Value))
	})
	return strings.Join(parts, " ")
}

// historyLink is the history file's path relative to the report at out,
// for a markdown link.
func historyLink(out string) string {
	absOut, err1 := filepath.Abs(out)
	absHist, err2 := filepath.Abs(historyFile)
	if err1 != nil || err2 != nil {
		return historyFile
	}
	rel, err := filepath.Rel(filepath.Dir(absOut), absHist)
	if err != nil {
		return historyFile
	}
	return filepath.ToSlash(rel)
}
