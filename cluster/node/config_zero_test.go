package node_test

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/console"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/metrics"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/cluster/reconciler"
	"github.com/granary-rt/granary/cluster/schedule"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/cluster/tracing"
	"github.com/granary-rt/granary/supervisor"
)

// zeroConfigs builds each Config type of the repository from its zero
// value, through the constructor that takes it: each must refuse it with
// an error or work, never panic (reconciler.New(Config{}) reached
// time.NewTicker(0)). The keys are "package.Type" as the source declares
// them.
var zeroConfigs = map[string]func() error{
	"node.Config": func() error { _, err := node.New(node.Config{}); return err },
	"node.PeerProbeConfig": func() error {
		return node.PeerProbeConfig{}.Validate()
	},
	"tasks.Config":      func() error { _, err := tasks.New(tasks.Config{}); return err },
	"schedule.Config":   func() error { _, err := schedule.New(schedule.Config{}); return err },
	"grains.Config":     func() error { _, err := grains.New(grains.Config{}); return err },
	"membership.Config": func() error { _, err := membership.Join(context.Background(), membership.Config{}); return err },
	"metrics.Config":    func() error { metrics.New(metrics.Config{}); return nil },
	"tracing.Config": func() error {
		p, err := tracing.New(context.Background(), tracing.Config{})
		if err == nil && p != nil {
			_ = p.Shutdown(context.Background())
		}
		return err
	},
	"reconciler.Config": func() error {
		r, err := reconciler.New(reconciler.Config{})
		if err == nil {
			r.Start()
			r.Stop()
		}
		return err
	},
	"boltstore.Config": func() error {
		s, err := boltstore.Open(boltstore.Config{})
		if err == nil {
			_ = s.Close()
		}
		return err
	},
	"consulstore.Config": func() error { _, err := consulstore.New(nil, consulstore.Config{}); return err },
	"client.Config":      func() error { _, err := client.New(client.Config{}); return err },
	"console.Config": func() error {
		console.Mount(httpapi.New(nil, httpapi.Config{}), console.Config{}).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ui/", nil))
		return nil
	},
	"httpapi.Config": func() error {
		httpapi.New(nil, httpapi.Config{}).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
		return nil
	},
	"supervisor.JobConfig": func() error {
		_, err := supervisor.NewJobMachine(supervisor.JobConfig{}, supervisor.JobState{})
		return err
	},
}

// TestZeroConfigsDoNotPanic constructs every Config type from its zero
// value; TestEveryConfigTypeIsChecked keeps the list complete.
func TestZeroConfigsDoNotPanic(t *testing.T) {
	names := make([]string, 0, len(zeroConfigs))
	for name := range zeroConfigs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s{}: the constructor panicked: %v", name, r)
				}
			}()
			err := zeroConfigs[name]()
			t.Logf("%s{}: %v", name, err)
		})
	}
}

// TestEveryConfigTypeIsChecked: every exported type named Config or
// ...Config outside internal/ (test rigs) and examples/ is in
// zeroConfigs, so a new one is not forgotten.
func TestEveryConfigTypeIsChecked(t *testing.T) {
	for _, name := range configTypes(t, "../..") {
		if _, ok := zeroConfigs[name]; !ok {
			t.Errorf("%s is not in zeroConfigs: add how to build it from its zero value", name)
		}
	}
}

// configTypes lists "package.Type" for the exported Config types declared
// under root, outside internal/, examples/ and test files.
func configTypes(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	skip := func(rel string, d fs.DirEntry) bool { return d.Name() == "internal" || d.Name() == "examples" }
	parseGoFiles(t, root, skip, func(_ string, f *ast.File) {
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, spec := range g.Specs {
				ts := spec.(*ast.TypeSpec)
				if _, isStruct := ts.Type.(*ast.StructType); isStruct && ts.Name.IsExported() && strings.HasSuffix(ts.Name.Name, "Config") {
					out = append(out, fmt.Sprintf("%s.%s", f.Name.Name, ts.Name.Name))
				}
			}
		}
	})
	if len(out) < 10 {
		t.Fatalf("found only %d Config types under %s: %v", len(out), root, out)
	}
	return out
}

// parseGoFiles parses each non-test Go file under root, outside testdata,
// .git, bin and the folders skip names, and hands it to visit with its
// path relative to root.
func parseGoFiles(t *testing.T, root string, skip func(rel string, d fs.DirEntry) bool, visit func(rel string, f *ast.File)) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch d.Name() {
			case "testdata", ".git", "bin":
				return filepath.SkipDir
			}
			if skip(filepath.ToSlash(rel), d) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		visit(filepath.ToSlash(rel), f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
