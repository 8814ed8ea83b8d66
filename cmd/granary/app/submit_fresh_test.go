package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
)

// TestSubmitSaysFreshForItsOwnID: granary submit without --id makes the id
// and says it is new on the first send (a node skips a Consul round trip);
// with --id it does not.
func TestSubmitSaysFreshForItsOwnID(t *testing.T) {
	var mu sync.Mutex
	var got []api.SubmitRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.SubmitRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(api.Status{ID: req.ID, Kind: req.Kind, State: api.StatePending})
	}))
	t.Cleanup(srv.Close)
	for _, args := range [][]string{{"submit", "--kind", "echo"}, {"submit", "--kind", "echo", "--id", "mine"}} {
		if r := cli(t, srv.URL, args...); r.code != exitOK {
			t.Fatalf("%v: exit %d, %s", args, r.code, r.stderr)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].ID == "" || !got[0].Fresh || got[1].ID != "mine" || got[1].Fresh {
		t.Fatalf("submits sent %+v; want the CLI's own id fresh, then mine without the hint", got)
	}
}
