package app

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/granary-rt/granary/internal/testnode"
)

// TestTokensFlagIsEnforced: `granary dev --tokens FILE` and `granary dev`
// with $GRANARY_WRITE_TOKEN serve the API only with a token (the flags'
// tokens once never reached the node: every request was served). The
// console's assets stay open; /healthz too.
func TestTokensFlagIsEnforced(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	const write, read = "flag-write-token-0123456789", "flag-read-token-0123456789"
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("write "+write+"\nread "+read+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// testnode's readiness check reads /healthz, open to all; its client
	// takes $GRANARY_TOKEN.
	t.Setenv("GRANARY_TOKEN", write)
	byFlag := testnode.Dev(t, "--tokens", file)
	t.Setenv("GRANARY_WRITE_TOKEN", write)
	byEnv := testnode.Dev(t)
	for name, n := range map[string]*testnode.Node{"--tokens": byFlag, "$GRANARY_WRITE_TOKEN": byEnv} {
		for _, c := range []struct {
			method, path, token string
			want                int
		}{
			{http.MethodGet, "/v1/tasks", "", http.StatusUnauthorized},
			{http.MethodGet, "/v1/tasks", "not-a-token-of-this-node", http.StatusUnauthorized},
			{http.MethodGet, "/v1/tasks", write, http.StatusOK},
			{http.MethodGet, "/healthz", "", http.StatusOK},
			{http.MethodGet, "/ui/", "", http.StatusOK},
		} {
			req, err := http.NewRequest(c.method, "http://"+n.HTTP+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s: %s %s with token %q: %d, want %d", name, c.method, c.path, c.token, resp.StatusCode, c.want)
			}
		}
	}
}
