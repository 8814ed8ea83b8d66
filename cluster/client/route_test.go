package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/placement"
	"github.com/granary-rt/granary/internal/testutil"
)

// fakeNodes are nodes that list each other as members and record the
// submits each one takes.
type fakeNodes struct {
	mu      sync.Mutex
	members []api.Member
	took    map[string][]string // member -> task ids
	srvs    map[string]*httptest.Server
}

func newFakeNodes(t *testing.T, ids ...string) *fakeNodes {
	f := &fakeNodes{took: map[string][]string{}, srvs: map[string]*httptest.Server{}}
	for _, id := range ids {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("activations") != "false" {
				http.Error(w, "the router must not ask for activation counts", http.StatusBadRequest)
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			_ = json.NewEncoder(w).Encode(api.MemberList{Members: f.members, Count: len(f.members)})
		})
		mux.HandleFunc("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
			var req api.SubmitRequest
			_ = json.NewDecoder(r.Body).Decode(&req)
			f.mu.Lock()
			f.took[id] = append(f.took[id], req.ID)
			f.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(api.Status{ID: req.ID, Kind: req.Kind, State: api.StateCompleted, Revision: 1})
		})
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		f.srvs[id] = srv
		f.members = append(f.members, api.Member{ID: id, HTTPAddr: srv.URL, Kinds: []string{"echo"}, Healthy: true, Activations: -1})
	}
	return f
}

func (f *fakeNodes) taken(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.took[id]...)
}

func (f *fakeNodes) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.took = map[string][]string{}
}

// A routing client sends each submit to the task's owner by placement,
// once it has read the member list, whichever node it was given.
func TestRouteSendsSubmitsToTheOwner(t *testing.T) {
	f := newFakeNodes(t, "n1", "n2", "n3")
	c, err := client.New(client.Config{Addr: f.srvs["n1"].URL, Route: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 10*time.Second)
	members := []placement.Member{{ID: "n1", Kinds: []string{"echo"}}, {ID: "n2", Kinds: []string{"echo"}}, {ID: "n3", Kinds: []string{"echo"}}}
	// The first submit starts reading the list; until it is read, submits
	// go to the configured node, n1: a task owned elsewhere shows when
	// routing has begun.
	probe := ""
	for i := 0; probe == ""; i++ {
		if o, _ := placement.TaskOwner(members, "echo", fmt.Sprintf("probe-%d", i)); o != "n1" {
			probe = fmt.Sprintf("probe-%d", i)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		f.reset()
		if _, err := c.Submit(ctx, api.SubmitRequest{ID: probe, Kind: "echo"}); err != nil {
			return false, err.Error()
		}
		return len(f.taken("n1")) == 0, "submits not routed yet"
	})
	f.reset()
	want := map[string]int{}
	for i := 0; i < 60; i++ {
		id := fmt.Sprintf("r-%d", i)
		owner, _ := placement.TaskOwner(members, "echo", id)
		want[owner]++
		if _, err := c.SubmitAndWait(ctx, api.SubmitRequest{ID: id, Kind: "echo"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"n1", "n2", "n3"} {
		if got := len(f.taken(m)); got != want[m] {
			t.Fatalf("%s took %d submits, want %d (its share by placement)", m, got, want[m])
		}
	}
	if want["n2"] == 0 || want["n3"] == 0 {
		t.Fatalf("placement put nothing on n2 or n3 (%v): the test proves nothing", want)
	}
}

// When the owner cannot be reached, the submit goes to the configured node.
func TestRouteFallsBackWhenTheOwnerIsDown(t *testing.T) {
	f := newFakeNodes(t, "n1", "n2")
	c, err := client.New(client.Config{Addr: f.srvs["n1"].URL, Route: true, RetryFor: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 10*time.Second)
	members := []placement.Member{{ID: "n1", Kinds: []string{"echo"}}, {ID: "n2", Kinds: []string{"echo"}}}
	var onN2 string
	for i := 0; onN2 == ""; i++ {
		if o, _ := placement.TaskOwner(members, "echo", fmt.Sprintf("d-%d", i)); o == "n2" {
			onN2 = fmt.Sprintf("d-%d", i)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		f.reset()
		_, err := c.Submit(ctx, api.SubmitRequest{ID: onN2, Kind: "echo"})
		return err == nil && len(f.taken("n2")) == 1, fmt.Sprintf("not routed to n2 yet (%v)", err)
	})
	f.srvs["n2"].Close()
	f.reset()
	if _, err := c.Submit(context.Background(), api.SubmitRequest{ID: onN2, Kind: "echo"}); err != nil {
		t.Fatalf("Submit with its owner down: %v, want it taken by n1", err)
	}
	if got := f.taken("n1"); len(got) != 1 || got[0] != onN2 {
		t.Fatalf("n1 took %v, want [%s]", got, onN2)
	}
}

// Restart sends a request id, the same on every try of one call, so a
// retry after a lost answer does not restart the task again.
func TestRestartKeepsItsRequestIDAcrossRetries(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.RestartRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		seen = append(seen, req.RequestID)
		tries := len(seen)
		mu.Unlock()
		if tries == 1 { // the first answer is lost
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: "unavailable", Message: "try again"}})
			return
		}
		_ = json.NewEncoder(w).Encode(api.Status{ID: "t", State: api.StateRetrying})
	}))
	defer srv.Close()
	c, err := client.New(client.Config{Addr: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for call := 0; call < 2; call++ {
		if _, err := c.Restart(testutil.Context(t, 5*time.Second), "t", "test"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] == "" || seen[0] != seen[1] || seen[2] == seen[1] {
		t.Fatalf("request ids %q: want one id kept across the retry of the first call, another for the second call", seen)
	}
}
