package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	capi "github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
)

const (
	readTok  = "read-token-0123456789"
	writeTok = "write-token-0123456789"
)

func testTokens(t *testing.T) *httpapi.Tokens {
	t.Helper()
	tokens, err := httpapi.ParseTokens(strings.NewReader("# the API's tokens\n\nread " + readTok + "\n  write " + writeTok + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func TestParseTokens(t *testing.T) {
	tokens := testTokens(t)
	for tok, want := range map[string]httpapi.Role{readTok: httpapi.RoleRead, writeTok: httpapi.RoleWrite, "": httpapi.RoleNone,
		"write-token-012345678": httpapi.RoleNone, writeTok + "x": httpapi.RoleNone, "read": httpapi.RoleNone} {
		if got := tokens.Role(tok); got != want {
			t.Errorf("Role(%q) = %s, want %s", tok, got, want)
		}
	}
	if tokens.Internal() != writeTok {
		t.Errorf("Internal() = %q, want the first write token", tokens.Internal())
	}
	for name, text := range map[string]string{
		"unknown role":  "admin " + writeTok,
		"short token":   "write short",
		"three fields":  "write " + writeTok + " extra",
		"no tokens":     "# nothing\n",
		"missing token": "write",
	} {
		if _, err := httpapi.ParseTokens(strings.NewReader(text)); !errors.Is(err, httpapi.ErrBadTokens) {
			t.Errorf("%s: %v, want ErrBadTokens", name, err)
		}
	}
}

// TestRequireTokens: each route's role, the answers without a token, with
// an unknown one, with a read token on a write route; /healthz open but
// telling an anonymous caller nothing beyond its status.
func TestRequireTokens(t *testing.T) {
	api := httpapi.New(nil, httpapi.Config{Member: "member-7", Activations: func() int { return 42 },
		Members: func(_ context.Context, _ bool) ([]capi.Member, error) {
			return []capi.Member{{ID: "member-7", Addr: "10.0.0.7:7000"}}, nil
		}})
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /v1/tasks/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("GET /debug/pprof/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := httptest.NewServer(httpapi.RequireTokens(testTokens(t), mux))
	defer srv.Close()
	cases := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/tasks/a", "", http.StatusUnauthorized},
		{"GET", "/v1/tasks/a", "unknown-token-0123456789", http.StatusUnauthorized},
		{"GET", "/v1/tasks/a", readTok, http.StatusOK},
		{"GET", "/v1/tasks/a", writeTok, http.StatusOK},
		{"POST", "/v1/tasks", "", http.StatusUnauthorized},
		{"POST", "/v1/tasks", readTok, http.StatusForbidden},
		{"POST", "/v1/tasks", writeTok, http.StatusCreated},
		{"POST", "/v1/grains/counter/a", readTok, http.StatusForbidden},
		{"DELETE", "/v1/tasks/a", readTok, http.StatusForbidden},
		{"GET", "/v1/members", readTok, http.StatusForbidden},
		{"GET", "/v1/members", writeTok, http.StatusOK},
		{"GET", "/debug/pprof/", "", http.StatusUnauthorized},
		{"GET", "/debug/pprof/", readTok, http.StatusForbidden},
		{"GET", "/debug/pprof/", writeTok, http.StatusOK},
		{"GET", "/healthz", "", http.StatusOK},
	}
	for _, c := range cases {
		resp := do(t, srv.URL, c.method, c.path, c.token)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s with %q: %d, want %d", c.method, c.path, c.token, resp.StatusCode, c.want)
		}
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, c.path)
		}
		resp.Body.Close()
	}
	for token, want := range map[string]capi.Health{"": {Status: "ok"}, readTok: {Status: "ok", Member: "member-7", Activations: 42}} {
		resp := do(t, srv.URL, "GET", "/healthz", token)
		var h capi.Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || h != want {
			t.Errorf("/healthz with %q: %+v (%v), want %+v", token, h, err, want)
		}
		resp.Body.Close()
	}
}

func do(t *testing.T, base, method, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
