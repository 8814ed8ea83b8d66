package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/granary-rt/granary/cluster/client"
)

// TestPathEscaping: an id with characters a path must escape reaches the
// node escaped once, so the node's refusal names the id the caller gave
// (it said "..%2Fx" for "../x": escaped twice).
func TestPathEscaping(t *testing.T) {
	got := make(chan string, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		got <- r.PathValue("id")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no"}}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for _, base := range []string{srv.URL, srv.URL + "/"} {
		c, err := client.New(client.Config{Addr: base})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"../x", "a b%2F"} {
			_, _ = c.Get(context.Background(), id)
			if g := <-got; g != id {
				t.Errorf("Get(%q) via %s: the node saw id %q", id, base, g)
			}
		}
	}
}
