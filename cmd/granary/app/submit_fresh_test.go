package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
)

// TestSubmitSaysFreshForItsOwnID: granary submit without --id makes the id
// and says it is new on the first send (a node skips a Consul round trip);
// with --id it does not. The same for the lines of --from.
func TestSubmitSaysFreshForItsOwnID(t *testing.T) {
	var mu sync.Mutex
	var got []api.SubmitRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch api.SubmitBatchRequest
		if r.URL.Path == "/v1/tasks:batch" {
			_ = json.NewDecoder(r.Body).Decode(&batch)
		} else {
			batch.Tasks = make([]api.SubmitRequest, 1)
			_ = json.NewDecoder(r.Body).Decode(&batch.Tasks[0])
		}
		mu.Lock()
		got = append(got, batch.Tasks...)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		var out api.SubmitBatchResponse
		for _, req := range batch.Tasks {
			out.Results = append(out.Results, api.BatchResult{Code: http.StatusCreated, Task: &api.Status{ID: req.ID, Kind: req.Kind, State: api.StatePending}})
		}
		if r.URL.Path == "/v1/tasks:batch" {
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(out.Results[0].Task)
	}))
	t.Cleanup(srv.Close)
	from := filepath.Join(t.TempDir(), "tasks.jsonl")
	if err := os.WriteFile(from, []byte(`{"kind":"echo"}`+"\n"+`{"kind":"echo","id":"line2"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"submit", "--kind", "echo"}, {"submit", "--kind", "echo", "--id", "mine"}, {"submit", "--from", from}} {
		if r := cli(t, srv.URL, args...); r.code != exitOK {
			t.Fatalf("%v: exit %d, %s", args, r.code, r.stderr)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 || got[0].ID == "" || !got[0].Fresh || got[1].ID != "mine" || got[1].Fresh ||
		got[2].ID == "" || !got[2].Fresh || got[3].ID != "line2" || got[3].Fresh {
		t.Fatalf("submits sent %+v; want the ids the CLI made fresh, the given ones (mine, line2) without the hint", got)
	}
}
