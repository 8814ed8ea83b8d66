package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/console"
)

// fakeAPI stands for the API behind the console: it names the path it got.
var fakeAPI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-API", r.URL.Path)
	w.Header().Set("X-Pattern", r.Pattern)
	w.WriteHeader(http.StatusTeapot)
})

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

// TestAssetsServedWithStrictHeaders: every console response carries the
// strict CSP and nosniff; the assets have their types; GET / goes to the
// console; the API's paths reach the API untouched.
func TestAssetsServedWithStrictHeaders(t *testing.T) {
	h := console.Mount(fakeAPI, console.DefaultConfig())
	for path, ctype := range map[string]string{"/ui/": "text/html", "/ui/app.js": "javascript", "/ui/jobs.js": "javascript", "/ui/style.css": "text/css", "/ui/index.html": "text/html"} {
		resp := get(t, h, http.MethodGet, path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || len(body) == 0 || !strings.Contains(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d, %q, %d bytes; want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ctype)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy || !strings.Contains(got, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: nosniff %q, ETag %q", path, resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("ETag"))
		}
	}
	if resp := get(t, h, http.MethodGet, "/ui/nothing.js"); resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET a missing asset: %d", resp.StatusCode)
	}
	if resp := get(t, h, http.MethodPost, "/ui/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: %d, want 405", resp.StatusCode)
	}
	if resp := get(t, h, http.MethodGet, "/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d to %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/v1/tasks", "/healthz", "/v1/tasks/ui", "/uix"} {
		if resp := get(t, h, http.MethodGet, path); resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-API") != path || resp.Header.Get("X-Pattern") != "" {
			t.Errorf("GET %s: %d (%q, pattern %q), want the API's answer, no pattern of the console's", path, resp.StatusCode, resp.Header.Get("X-API"), resp.Header.Get("X-Pattern"))
		}
	}
	if resp := get(t, h, http.MethodPost, "/"); resp.StatusCode != http.StatusTeapot {
		t.Errorf("POST /: %d, want the API's answer (only GET / is redirected)", resp.StatusCode)
	}
	// A conditional GET of an unchanged asset is a 304 without a body.
	first := get(t, h, http.MethodGet, "/ui/app.js")
	req := httptest.NewRequest(http.MethodGet, "/ui/app.js", nil)
	req.Header.Set("If-None-Match", first.Header.Get("ETag"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", rec.Code)
	}
}

// TestAssetsRenderDataAsText keeps the rules the browser test checks in
// one run from being broken by a later edit: no HTML parsing of strings
// in the script (innerHTML and its kin, document.write, eval), nothing
// fetched from elsewhere, and no inline script, style or handler in the
// page (the CSP would block them anyway).
func TestAssetsRenderDataAsText(t *testing.T) {
	scripts, err := filepath.Glob("assets/*.js")
	if err != nil || len(scripts) < 2 {
		t.Fatalf("the console's scripts: %v (%v); want app.js and jobs.js at least", scripts, err)
	}
	for _, name := range scripts {
		js, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		code := regexp.MustCompile(`(?m)//.*$`).ReplaceAllString(string(js), "") // comments may name what is banned
		for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://", "DOMParser", "createContextualFragment", "srcdoc"} {
			if strings.Contains(code, banned) {
				t.Errorf("%s uses %s", name, banned)
			}
		}
	}
	page, err := os.ReadFile("assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`<script>`, `<script(?:\s[^>]*)?>[^<]+</script>`, `<style`, `\sstyle=`, `\son[a-z]+=`, `https?://`} {
		if regexp.MustCompile(re).Match(page) {
			t.Errorf("index.html matches %s", re)
		}
	}
}
