package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/httpapi"
)

// TestGuardBrowsers: a write a web page of another origin makes a browser
// send (CSRF) is refused, and so, on a loopback node without tokens, is a
// request addressed to a DNS name (rebinding); clients that are not
// browsers, the console (same origin) and reads pass.
func TestGuardBrowsers(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	cases := []struct {
		name         string
		loopbackOnly bool
		method, path string
		host         string
		headers      map[string]string
		want         int
	}{
		{"cli submit", true, "POST", "/v1/tasks", "127.0.0.1:8080", nil, http.StatusTeapot},
		{"cli on localhost", true, "POST", "/v1/tasks", "localhost:8080", nil, http.StatusTeapot},
		{"cli over IPv6", true, "GET", "/v1/tasks", "[::1]:8080", nil, http.StatusTeapot},
		{"console submit", true, "POST", "/v1/tasks", "127.0.0.1:8080",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"}, http.StatusTeapot},
		{"cross-site form post", true, "POST", "/v1/tasks", "127.0.0.1:8080",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example", "Content-Type": "text/plain"}, http.StatusForbidden},
		{"cross-site post, Origin only", false, "POST", "/v1/grains/counter/a", "10.0.0.1:8080",
			map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"cross-site delete", false, "DELETE", "/v1/tasks/x", "10.0.0.1:8080",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"rebinding read", true, "GET", "/v1/tasks", "evil.example:8080", nil, http.StatusForbidden},
		{"rebinding write", true, "POST", "/v1/tasks", "evil.example:8080",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example:8080"}, http.StatusForbidden},
		{"rebinding to the health check", true, "GET", "/healthz", "evil.example:8080", nil, http.StatusTeapot},
		{"names on a node with tokens", false, "GET", "/v1/tasks", "granary.internal:8080", nil, http.StatusTeapot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "http://"+c.host+c.path, strings.NewReader(`{"kind":"echo"}`))
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			httpapi.GuardBrowsers(ok, c.loopbackOnly).ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("%s %s (Host %s, %v): %d %s, want %d", c.method, c.path, c.host, c.headers, w.Code, w.Body, c.want)
			}
			if c.want == http.StatusForbidden && !strings.Contains(w.Body.String(), `"code":"cross_origin"`) {
				t.Fatalf("refusal body %s: want error code cross_origin", w.Body)
			}
		})
	}
}
