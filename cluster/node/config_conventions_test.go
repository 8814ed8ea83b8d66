package node_test

import (
	"go/ast"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// conventionExceptions are the packages whose Config does not follow the
// convention of cluster/errs yet, each with why. Remove a line when its
// package is brought in line.
var conventionExceptions = map[string]string{
	// DefaultConfig(member): their packages are being changed by others
	// this session (issue #24 lists them).
	"cluster/tasks":    "DefaultConfig(member string)",
	"cluster/schedule": "DefaultConfig(member string)",
	"cluster/grains":   "DefaultConfig(member string)",
	// DefaultConfig(path) and DefaultConfig(cluster): their callers
	// include cluster/tasks' tests and consulstore/bytime_test.go,
	// changed by others this session.
	"cluster/store/boltstore":   "DefaultConfig(path string)",
	"cluster/store/consulstore": "DefaultConfig(cluster string)",
}

// TestConfigConventions: every package with a Config type (outside the
// test rigs of internal/ and examples/) has func DefaultConfig() Config,
// without arguments, and func (Config) Validate() error, as cluster/errs'
// package documentation says.
func TestConfigConventions(t *testing.T) {
	type found struct{ config, defaults, validate bool }
	pkgs := map[string]*found{}
	defaultSig := map[string]string{}
	// The test rigs of internal/ and examples/ are left out, not
	// cluster/internal's runtime packages.
	skip := func(rel string, _ fs.DirEntry) bool { return rel == "internal" || rel == "examples" }
	parseGoFiles(t, "../..", skip, func(rel string, f *ast.File) {
		dir := path.Dir(rel)
		p := pkgs[dir]
		if p == nil {
			p = &found{}
			pkgs[dir] = p
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok && ts.Name.Name == "Config" {
						if _, isStruct := ts.Type.(*ast.StructType); isStruct {
							p.config = true
						}
					}
				}
			case *ast.FuncDecl:
				switch {
				case d.Recv == nil && d.Name.Name == "DefaultConfig":
					defaultSig[dir] = funcShape(d.Type)
					p.defaults = defaultSig[dir] == "() Config"
				case d.Recv != nil && d.Name.Name == "Validate" && recvName(d) == "Config":
					p.validate = funcShape(d.Type) == "() error"
				}
			}
		}
	})
	n := 0
	for dir, p := range pkgs {
		if !p.config {
			continue
		}
		n++
		if why, ok := conventionExceptions[dir]; ok {
			t.Logf("%s: an exception for now: %s", dir, why)
			continue
		}
		if !p.defaults {
			t.Errorf("%s: DefaultConfig is %q, want func DefaultConfig() Config (required values are fields Validate checks)", dir, defaultSig[dir])
		}
		if !p.validate {
			t.Errorf("%s: no func (Config) Validate() error", dir)
		}
	}
	if n < 10 {
		t.Fatalf("found only %d packages with a Config", n)
	}
}

// funcShape renders a function type's parameters and results coarsely:
// "() Config", "(string) Config", "() error".
func funcShape(ft *ast.FuncType) string {
	var params, results []string
	for _, f := range ft.Params.List {
		for range max(1, len(f.Names)) {
			params = append(params, typeName(f.Type))
		}
	}
	if ft.Results != nil {
		for _, f := range ft.Results.List {
			results = append(results, typeName(f.Type))
		}
	}
	return "(" + strings.Join(params, ", ") + ") " + strings.Join(results, ", ")
}

func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + typeName(e.X)
	case *ast.SelectorExpr:
		return typeName(e.X) + "." + e.Sel.Name
	}
	return "?"
}

func recvName(d *ast.FuncDecl) string {
	if len(d.Recv.List) == 0 {
		return ""
	}
	return strings.TrimPrefix(typeName(d.Recv.List[0].Type), "*")
}
