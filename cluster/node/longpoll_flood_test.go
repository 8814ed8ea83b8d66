package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestLongPollFlood: long polls holding every connection the node takes
// (a read token's, or any local client's) do not shut out /healthz, and
// so do not take the member out of Consul's view: long polls are bounded
// below the connection cap, and those past the bound are answered 429
// at once, leaving their connections idle, which make room.
func TestLongPollFlood(t *testing.T) {
	cfg := embedded(t)
	cfg.MaxHTTPConns = 32
	n := start(t, cfg)
	ctx := testutil.Context(t, 60*time.Second)
	st, err := n.Client().SubmitAndWait(ctx, api.SubmitRequest{Kind: "resize", Payload: json.RawMessage(`{"tiles":1}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s/v1/tasks/%s?index=%d&wait=30s", n.HTTPAddr(), st.ID, st.Revision)
	pollCtx, stopPolls := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stopPolls(); wg.Wait() })
	for range 2 * cfg.MaxHTTPConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}} // a connection of its own
			for pollCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(pollCtx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					select { // as a client told Retry-After would
					case <-time.After(time.Second):
					case <-pollCtx.Done():
					}
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // the flood builds up
	for i := range 5 {
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c := &http.Client{Transport: &http.Transport{}}
		req, _ := http.NewRequestWithContext(hctx, http.MethodGet, "http://"+n.HTTPAddr()+"/healthz", nil)
		resp, err := c.Do(req)
		cancel()
		if err != nil {
			t.Fatalf("/healthz %d under a flood of long polls: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz %d under a flood of long polls: %d", i, resp.StatusCode)
		}
	}
}
