package app

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testutil"
	"log/slog"
)

// readme is the repository's README.md.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// inProcessDev starts an embedded node (what `granary dev` runs) in this
// process, with the stock kinds, and returns its API's address.
func inProcessDev(t *testing.T) string {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr = stockKinds(t), t.TempDir(), "127.0.0.1:0"
	cfg.Logger = testutil.Logger(t, slog.LevelWarn)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testutil.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	return "http://" + n.HTTPAddr()
}

// sampleSession is a `$ granary ...` line of a README shell block and the
// lines printed under it.
var sampleSession = regexp.MustCompile("(?m)^\\$ (granary [^\\n#]*?)\\s*(?:#.*)?\\n((?:[^$`\\n][^\\n]*\\n)*)")

// TestREADMESampleOutputIsWhatTheCommandPrints runs each sample command of
// the README's CLI section that shows its output, and compares what it
// prints with what the README shows (columns compared, whitespace aside):
// the README showed `demo-1 … attempts=2` for a command that printed a
// random id.
func TestREADMESampleOutputIsWhatTheCommandPrints(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts an embedded node")
	}
	addr := inProcessDev(t)
	checked := 0
	for _, m := range sampleSession.FindAllStringSubmatch(readme(t), -1) {
		want := strings.TrimSpace(m[2])
		if want == "" {
			continue // a command shown without its output
		}
		args := shellWords(t, strings.TrimPrefix(m[1], "granary "))
		r := cli(t, addr, args...)
		if got := strings.TrimSpace(r.stdout); strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
			t.Errorf("README: $ %s\nshows:\n%s\nbut it prints (exit %d):\n%s%s", m[1], want, r.code, got, r.stderr)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no sample command with its output found in the README")
	}
}

// shellWords splits a command line as a POSIX shell would, for the
// quoting README samples use (single quotes, no escapes).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestREADMEClusterSectionSaysWhereTheBinariesAre: the cluster section ran
// `consul agent -dev` and `granary node` as if both were on PATH; it must
// say that the build writes bin/granary and `make consul` bin/consul
// before its first command.
func TestREADMEClusterSectionSaysWhereTheBinariesAre(t *testing.T) {
	doc := readme(t)
	start := strings.Index(doc, "\n## Running a cluster\n")
	if start < 0 {
		t.Fatal("README has no Running a cluster section")
	}
	section := doc[start:]
	first := strings.Index(section, "consul agent")
	if first < 0 {
		t.Fatal("the cluster section runs no consul agent")
	}
	for _, want := range []string{"bin/granary", "bin/consul", "make consul"} {
		if i := strings.Index(section, want); i < 0 || i > first {
			t.Errorf("the cluster section does not say %q before its first command", want)
		}
	}
}
