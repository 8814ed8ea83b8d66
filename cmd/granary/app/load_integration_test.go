package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestLoadCannotTakeAMemberOut: 1,000 concurrent long polls and 6,000
// idle connections through one member of a real cluster leave it in the
// cluster, never fenced, with /healthz answering throughout (300 long
// polls once made Consul refuse the member's connections: it lost its
// lease and fenced itself; 20,000 idle connections exhausted its file
// descriptors).
func TestLoadCannotTakeAMemberOut(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	// Consul's own per-address limit: the load must not reach it.
	agent := testconsul.Start(t, testconsul.Options{MaxConnsPerClient: 200})
	nodes := startCluster(t, 2, agent.HTTPAddr(), nil)
	target, other := nodes[0], nodes[1]
	ctx := testutil.Context(t, 3*time.Minute)

	var reqs []api.SubmitRequest
	for i := range 1000 {
		reqs = append(reqs, api.SubmitRequest{ID: fmt.Sprintf("long-%04d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":600000}`)})
	}
	revs := map[string]uint64{}
	for len(reqs) > 0 {
		batch := reqs[:min(len(reqs), api.MaxBatch)]
		reqs = reqs[len(batch):]
		results, err := target.Client().SubmitBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Task == nil {
				t.Fatalf("submit %d: %+v", i, r)
			}
			revs[r.Task.ID] = r.Task.Revision
		}
	}

	// 1,000 long polls, each on its own connection, through one member.
	pollCtx, stopPolls := context.WithCancel(ctx)
	defer stopPolls()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1100, MaxConnsPerHost: 1100}}
	var polling sync.WaitGroup
	var answered, failed atomic.Int64
	for id, rev := range revs {
		polling.Add(1)
		go func() {
			defer polling.Done()
			for pollCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(pollCtx, http.MethodGet, fmt.Sprintf("http://%s/v1/tasks/%s?index=%d&wait=60s", target.HTTP, id, rev), nil)
				resp, err := hc.Do(req)
				if err != nil {
					if pollCtx.Err() == nil {
						failed.Add(1)
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered.Add(1)
			}
		}()
	}
	// 6,000 connections that say nothing.
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := range 6000 {
		c, err := net.Dial("tcp", target.HTTP)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		idle = append(idle, c)
	}

	// For 10s the member stays in the cluster and healthy.
	health := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		resp, err := health.Get("http://" + target.HTTP + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz under load: %v %v", resp, err)
		}
		resp.Body.Close()
		ms, err := other.Client().Members(ctx)
		in := false
		for _, m := range ms {
			in = in || m.ID == target.ID
		}
		if err != nil || !in {
			t.Fatalf("%s is no longer in the cluster as %s sees it: %+v, %v", target.ID, other.ID, ms, err)
		}
	}
	if fenced := target.LogEntries(0, "self-fenced: lease or session with Consul lost; stopping every grain and task"); len(fenced) > 0 {
		t.Fatalf("%s fenced itself under load: %v", target.ID, fenced)
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d long polls failed", n)
	}
	stopPolls()
	polling.Wait()
	t.Logf("1000 long polls (%d answered, at their wait's end) and 6000 idle connections: %s stayed in the cluster, healthy, unfenced", answered.Load(), target.ID)
}
