package client_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// sent is one submit as a fake node received it: its id and whether it
// said the id is new.
type sent struct {
	id    string
	fresh bool
}

// freshNode is a fake node that records the submits it receives and
// answers the first fail of them with answer (then 201).
type freshNode struct {
	mu     sync.Mutex
	got    []sent
	fail   int
	answer func(w http.ResponseWriter)
}

func (n *freshNode) serve(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var reqs []api.SubmitRequest
		if r.URL.Path == "/v1/tasks:batch" {
			var b api.SubmitBatchRequest
			_ = json.Unmarshal(body, &b)
			reqs = b.Tasks
		} else {
			var one api.SubmitRequest
			_ = json.Unmarshal(body, &one)
			reqs = []api.SubmitRequest{one}
		}
		n.mu.Lock()
		for _, q := range reqs {
			n.got = append(n.got, sent{q.ID, q.Fresh})
		}
		failing := n.fail > 0
		n.fail--
		n.mu.Unlock()
		if failing {
			n.answer(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/tasks:batch" {
			out := api.SubmitBatchResponse{}
			for _, q := range reqs {
				out.Results = append(out.Results, api.BatchResult{Code: http.StatusCreated, Task: &api.Status{ID: q.ID, Kind: q.Kind, State: api.StateCompleted}})
			}
			_ = json.NewEncoder(w).Encode(out)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(api.Status{ID: reqs[0].ID, Kind: reqs[0].Kind, State: api.StateCompleted})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (n *freshNode) sends() []sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sent(nil), n.got...)
}

func unavailable(w http.ResponseWriter) {
	http.Error(w, `{"error":{"code":"unavailable","message":"try again"}}`, http.StatusServiceUnavailable)
}

// olderNode answers as a node that does not know the hint: its strict
// decoder refuses the field, and it stores nothing.
func olderNode(w http.ResponseWriter) {
	http.Error(w, `{"error":{"code":"invalid_argument","message":"invalid argument: malformed JSON body: json: unknown field \"fresh\""}}`, http.StatusBadRequest)
}

func freshClient(t *testing.T, url string, coalesce bool) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Addr: url, Coalesce: coalesce,
		Retry: backoff.Backoff{Initial: time.Millisecond, Multiplier: 1, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bothWays runs test with a plain client and with a coalescing one.
func bothWays(t *testing.T, test func(t *testing.T, coalesce bool)) {
	t.Run("plain", func(t *testing.T) { test(t, false) })
	t.Run("coalescing", func(t *testing.T) { test(t, true) })
}

// TestSubmitSaysFreshOnlyOnTheFirstSend: the client marks a submit fresh
// on the first send of an id it made, and on no retry of it (the first
// send may have stored the task); never for an id the caller gave.
func TestSubmitSaysFreshOnlyOnTheFirstSend(t *testing.T) {
	bothWays(t, func(t *testing.T, coalesce bool) {
		ctx := testutil.Context(t, 10*time.Second)
		n := &freshNode{fail: 2, answer: unavailable}
		c := freshClient(t, n.serve(t), coalesce)
		st, err := c.Submit(ctx, api.SubmitRequest{Kind: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		want := []sent{{st.ID, true}, {st.ID, false}, {st.ID, false}}
		if got := n.sends(); !slices.Equal(got, want) {
			t.Fatalf("sends %v; want %v: the hint on the first send only", got, want)
		}
		n2 := &freshNode{}
		c2 := freshClient(t, n2.serve(t), coalesce)
		if _, err := c2.Submit(ctx, api.SubmitRequest{ID: "mine", Kind: "echo"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo"}, nil); err != nil {
			t.Fatal(err)
		}
		if got := n2.sends(); len(got) != 2 || got[0] != (sent{"mine", false}) || !got[1].fresh {
			t.Fatalf("sends %v; want the caller's id unmarked, then SubmitAndWait's own id fresh", got)
		}
	})
}

// TestSubmitBatchSaysFreshOnlyOnTheFirstSend: in a batch, the tasks whose
// id the client made are fresh on the first send only.
func TestSubmitBatchSaysFreshOnlyOnTheFirstSend(t *testing.T) {
	ctx := testutil.Context(t, 10*time.Second)
	n := &freshNode{fail: 1, answer: unavailable}
	c := freshClient(t, n.serve(t), false)
	res, err := c.SubmitBatch(ctx, []api.SubmitRequest{{ID: "mine", Kind: "echo"}, {Kind: "echo"}})
	if err != nil {
		t.Fatal(err)
	}
	made := res[1].Task.ID
	want := []sent{{"mine", false}, {made, true}, {"mine", false}, {made, false}}
	if got := n.sends(); !slices.Equal(got, want) {
		t.Fatalf("sends %v; want %v", got, want)
	}
}

// TestSubmitToANodeWithoutTheHint: a node of an older version refuses the
// unknown field (and stores nothing); the submit goes again at once
// without it, and the client sends it no more.
func TestSubmitToANodeWithoutTheHint(t *testing.T) {
	bothWays(t, func(t *testing.T, coalesce bool) {
		ctx := testutil.Context(t, 10*time.Second)
		n := &freshNode{fail: 1, answer: olderNode}
		c := freshClient(t, n.serve(t), coalesce)
		first, err := c.Submit(ctx, api.SubmitRequest{Kind: "echo"})
		if err != nil {
			t.Fatalf("Submit to an older node: %v", err)
		}
		second, err := c.Submit(ctx, api.SubmitRequest{Kind: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		want := []sent{{first.ID, true}, {first.ID, false}, {second.ID, false}}
		if got := n.sends(); !slices.Equal(got, want) {
			t.Fatalf("sends %v; want %v", got, want)
		}
	})
}
