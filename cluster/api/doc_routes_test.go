package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docRoute is a route line of the package doc: "//\tMETHOD /path ...".
var docRoute = regexp.MustCompile(`(?m)^//\t(GET|POST|PUT|DELETE|PATCH) +(/\S*)`)

// TestDocListsEveryRoute: the package doc's "HTTP API in one page" lists
// exactly the routes cluster/httpapi registers (it listed 9 of 17).
func TestDocListsEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range docRoute.FindAllStringSubmatch(string(doc), -1) {
		documented = append(documented, m[1]+" "+m[2])
	}
	served := routesOf(t, "../httpapi")
	slices.Sort(documented)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served by cluster/httpapi but not listed in cluster/api's doc", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("route %s is listed in cluster/api's doc but cluster/httpapi serves no such route", r)
		}
	}
	if len(served) < 17 {
		t.Errorf("found %d routes in cluster/httpapi (%v); the parser is missing some", len(served), served)
	}
}

// routesOf lists the method-and-path patterns a package's non-test files
// register with mux.HandleFunc (the catch-all "/" aside).
func routesOf(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err == nil && strings.Contains(pattern, " ") {
				routes = append(routes, pattern)
			}
			return true
		})
	}
	slices.Sort(routes)
	return slices.Compact(routes)
}
